"""The gateway's domain routes, one mixin per service it fronts; GatewayService combines them."""
