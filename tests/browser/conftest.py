"""Browser tests: the flows in tests/browser/flows.py run in a child process without eventlet (the suite
monkey-patches everything, and Playwright's sync API hangs under it) against a `kim up` the test starts; see
tests/browser/test_app.py."""
