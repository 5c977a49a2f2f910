"""The duplicate check's name matching (services/intake/matching.py) on a table of synthetic name variants as
they turn up in real registrations: Arabic, Cyrillic (Russian and Ukrainian), Turkish, German, Greek spellings."""
import pytest

from services.intake.matching import LIKELY, jaro_winkler, key, latin, score

MATCH = [
    # Arabic names in Latin spellings and in Arabic script
    ("Mohammed", "Al Hassan", "Muhammad", "Al-Hassan"),
    ("Mohamad", "Alhassan", "Muhammed", "Al Hasan"),
    ("محمد", "الحسن", "Mohammed", "Al Hassan"),
    ("Ahmed", "Haddad", "Achmed", "Hadad"),
    ("Ahmad", "Khalil", "Akhmed", "Chalil"),
    ("أحمد", "خليل", "Ahmad", "Khalil"),
    ("Youssef", "Nasser", "Yusuf", "Naser"),
    ("يوسف", "ناصر", "Yousef", "Nasser"),
    ("Fatima", "Al-Zahra", "Fatimah", "Alzahraa"),
    ("فاطمة", "الزهراء", "Fatima", "Al Zahra"),
    ("Hussein", "Abdullah", "Husain", "Abdallah"),
    ("Khaled", "Shaikh", "Chaled", "Scheich"),
    ("Omar", "Mansour", "Umar", "Mansur"),
    ("عمر", "منصور", "Omar", "Mansour"),
    ("Aisha", "Darwish", "Aischa", "Derwisch"),
    # Cyrillic, Russian and Ukrainian transliterations
    ("Мухаммед", "Аль-Хасан", "Mohammed", "Al Hassan"),
    ("Олена", "Коваленко", "Olena", "Kovalenko"),
    ("Олена", "Коваленко", "Elena", "Kowalenko"),
    ("Олександр", "Шевченко", "Aleksandr", "Shevchenko"),
    ("Oleksandr", "Schewtschenko", "Alexander", "Shevchenko"),
    ("Юлія", "Ткаченко", "Yuliia", "Tkachenko"),
    ("Юлия", "Ткаченко", "Julia", "Tkatschenko"),
    ("Сергій", "Бондаренко", "Serhii", "Bondarenko"),
    ("Сергей", "Бондаренко", "Sergej", "Bondarenko"),
    ("Євгенія", "Мельник", "Yevheniia", "Melnyk"),
    ("Дмитро", "Кравчук", "Dmytro", "Krawtschuk"),
    ("Наталья", "Жукова", "Natalia", "Zhukova"),
    # Turkish and German letters
    ("Ayşe", "Yılmaz", "Ayse", "Yilmaz"),
    ("Çağrı", "Öztürk", "Cagri", "Oeztuerk"),
    ("Şükrü", "Güneş", "Sukru", "Gunes"),
    ("Jürgen", "Müller", "Juergen", "Mueller"),
    ("Jörg", "Groß", "Joerg", "Gross"),
    # swapped given and family names
    ("Mohammed", "Al Hassan", "Al Hassan", "Mohammed"),
    ("Olena", "Kovalenko", "Kovalenko", "Olena"),
    ("Ahmad", "Karimi", "Karimi", "Ahmed"),
    # Greek
    ("Γιώργος", "Παπαδόπουλος", "Giorgos", "Papadopoulos"),
]

NO_MATCH = [
    ("Hassan", "Haddad", "Hussein", "Haddad"),  # twins: same family name and birth date
    ("Omar", "Haddad", "Amir", "Haddad"),
    ("Olena", "Kovalenko", "Oksana", "Kovalenko"),
    ("Mohammed", "Al Hassan", "Mohammed", "Haddad"),
    ("Mohammed", "Al Hassan", "Ahmed", "Al Hassan"),
    ("Ayşe", "Yılmaz", "Ayse", "Demir"),
    ("Jürgen", "Müller", "Jürgen", "Schmidt"),
    ("Сергій", "Бондаренко", "Sergii", "Kravchuk"),
    ("Fatima", "Nasser", "Farida", "Nasser"),
    ("Youssef", "Nasser", "Yasmin", "Nasser"),
    ("Dmytro", "Melnyk", "Dmytro", "Moroz"),
    ("Aleksandr", "Ivanov", "Aleksandra", "Petrova"),
    ("Ali", "Karimi", "Ali", "Rahimi"),
    ("Mariam", "Saleh", "Mariam", "Haddad"),
    ("Mohammed", "Al Hassan", "Mohammed Ali", "Haddad"),
]


@pytest.mark.parametrize("name, expected", [
    ("Müller", "mueller"), ("Straße", "strasse"), ("Ayşe Yılmaz", "ayse yilmaz"), ("Çağrı", "cagri"),
    ("Мухаммед Аль-Хасан", "mukhammed al khasan"), ("Олена", "olena"), ("Євгенія", "ievgeniya"),
    ("Їжакевич", "izhakevich"), ("Γιώργος", "giorgos"), ("محمد", "mhmd"), ("  Jean-Luc  d'Arc ", "jean luc darc"),
    ("ÉLODIE", "elodie"), ("Łukasz", "lukasz"),
])
def test_latin(name, expected):
    assert latin(name) == expected


@pytest.mark.parametrize("a, b", [("Mohammed", "Muhammad"), ("Mueller", "Müller"), ("Muller", "Mueller"),
                                  ("Olena", "Elena"), ("Aleksandr", "Alexander"), ("Mohamad", "Mohammed")])
def test_keys_of_variants_are_equal_or_close(a, b):
    assert jaro_winkler(key(latin(a)), key(latin(b))) >= 0.85


@pytest.mark.parametrize("given, family, other_given, other_family", MATCH)
def test_variants_of_one_name_are_likely_the_same_person(given, family, other_given, other_family):
    value, why = score({"given_name": given, "family_name": family},
                       {"given_name": other_given, "family_name": other_family})
    assert value >= LIKELY, (value, why)


@pytest.mark.parametrize("given, family, other_given, other_family", NO_MATCH)
def test_other_names_are_not(given, family, other_given, other_family):
    value, why = score({"given_name": given, "family_name": family},
                       {"given_name": other_given, "family_name": other_family})
    assert value < LIKELY, (value, why)


def test_the_table_is_large_enough():
    assert len(MATCH) >= 25 and len(NO_MATCH) >= 10


def test_why_is_machine_readable():
    assert score({"given_name": "Mohammed", "family_name": "Al Hassan", "birth_date": "1990-01-01"},
                 {"given_name": "Al-Hassan", "family_name": "Muhammad", "birth_date": "1990-01-01"}) == \
        (0.94, ["same_birth_date", "names_swapped", "given_name_similar", "family_name_same"])
    value, why = score({"given_name": "Olena", "family_name": "Testperson"},
                       {"given_name": "Olena", "family_name": "Testperson"})
    assert value == 1.0 and why == ["given_name_same", "family_name_same"]


def test_stored_latin_forms_are_used_and_the_script_still_counts():
    stored = {"given_name": "محمد", "family_name": "الحسن", "given_name_latin": "mhmd", "family_name_latin": "lhsn"}
    assert score(stored, {"given_name": "Mohammed", "family_name": "Al Hassan"})[0] >= LIKELY
