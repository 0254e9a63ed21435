# ruff: noqa: RUF001, RUF003 - the Cyrillic letters are the subject, not look-alikes
"""The reader's order of names: numbers by value, case and accents aside, Cyrillic by its alphabet."""

from __future__ import annotations

from app.natural_order import natural_key, natural_keys


def test_numbers_compare_by_value_and_case_is_ignored() -> None:
    names = ["Customer 10", "customer 2", "Customer 1", "CUSTOMER 9", "Customer 100"]

    assert sorted(names, key=natural_key) == [
        "Customer 1",
        "customer 2",
        "CUSTOMER 9",
        "Customer 10",
        "Customer 100",
    ]


def test_ukrainian_and_russian_letters_sort_in_alphabet_order() -> None:
    # Unicode puts ґ, є, і and ї after я; the alphabets put them beside г, е and и.
    names = ["Ярема", "Ігор", "Євген", "Ґанна", "Гнат", "Дмитро", "Иван", "Йосип", "Їжак", "Ёлка", "Елена"]

    assert sorted(names, key=natural_key) == [
        "Гнат",
        "Ґанна",
        "Дмитро",
        "Елена",
        "Ёлка",
        "Євген",
        "Иван",
        "Ігор",
        "Їжак",
        "Йосип",
        "Ярема",
    ]


def test_accents_sort_beside_their_letter_and_latin_comes_before_cyrillic() -> None:
    assert sorted(["Zoe", "Émile", "Олена", "eva", "Ada"], key=natural_key) == [
        "Ada",
        "Émile",
        "eva",
        "Zoe",
        "Олена",
    ]


def test_texts_equal_but_for_case_or_leading_zeros_still_have_one_order() -> None:
    assert natural_key("Item 2") == natural_key("Item 2")
    assert natural_key("item 2") != natural_key("Item 2")
    assert sorted(["item 2", "Item 02", "Item 2"], key=natural_key) == sorted(
        ["Item 2", "item 2", "Item 02"], key=natural_key
    )
    assert sorted(["Item 3", "Item 02", "item 2"], key=natural_key)[-1] == "Item 3"


def test_a_name_without_digits_and_an_empty_name() -> None:
    assert sorted(["b", "", "a1", "a"], key=natural_key) == ["", "a", "a1", "b"]


def test_a_letter_unicode_places_elsewhere_sorts_after_every_word_of_the_letter_it_follows() -> None:
    assert sorted(["Ґа", "Гя", "Д", "Ієна", "Ия", "Й"], key=natural_key) == [
        "Гя",
        "Ґа",
        "Д",
        "Ия",
        "Ієна",
        "Й",
    ]


def test_keys_made_together_equal_keys_made_one_by_one_even_with_a_line_break() -> None:
    texts = ["Customer 10", "Олена 2", "two\nlines 3", "Émile", ""]
    assert natural_keys(texts) == [natural_key(text) for text in texts]
    assert sorted(texts, key=natural_key) == ["", "Customer 10", "Émile", "two\nlines 3", "Олена 2"]
