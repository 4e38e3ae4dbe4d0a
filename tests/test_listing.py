"""parse_list_query: paging bounds, sorting, filters of every kind and the errors naming them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from crm_core.errors import InvalidInput
from crm_core.listing import MAX_LIMIT, FilterSpec, ListQuery, ListSpec, parse_list_query
from crm_core.users.models import User

SPEC = ListSpec(
    sortable={"username": User.username, "created_at": User.created_at, "id": User.id},
    default_sort=("-created_at", "username"),
    filters={
        "username": FilterSpec(User.username, ops=("eq", "in", "contains")),
        "is_active": FilterSpec(User.is_active, kind="bool"),
        "id": FilterSpec(User.id, kind="int", ops=("eq", "in", "gte", "lte")),
        "created_at": FilterSpec(User.created_at, kind="datetime", ops=("gte", "lte")),
        "language": FilterSpec(
            User.language, kind="choice", choices=("en", "el", "de"), ops=("eq", "in")
        ),
    },
    search=(User.username, User.display_name),
    tiebreak=User.id,
)

NO_SEARCH = ListSpec(sortable={"id": User.id}, default_sort=("id",))


def bad(params: dict[str, str], spec: ListSpec = SPEC) -> InvalidInput:
    with pytest.raises(InvalidInput) as info:
        parse_list_query(params, spec)
    assert info.value.code == "invalid_input"
    return info.value


def filters_of(params: dict[str, str]) -> tuple[tuple[str, str, object], ...]:
    return parse_list_query(params, SPEC).filters


# --- paging -------------------------------------------------------------------------------------


def test_defaults() -> None:
    query = parse_list_query({}, SPEC)
    assert query == ListQuery(
        limit=50, offset=0, sort=(("created_at", True), ("username", False)), filters=(), q=None
    )


@pytest.mark.parametrize(("raw", "expected"), [("1", 1), ("50", 50), (str(MAX_LIMIT), MAX_LIMIT)])
def test_limit_within_bounds(raw: str, expected: int) -> None:
    assert parse_list_query({"limit": raw}, SPEC).limit == expected


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        ("0", "from 1 to 200"),
        ("201", "from 1 to 200"),
        ("-5", "from 1 to 200"),
        ("ten", "whole number"),
        ("", "whole number"),
        ("2.5", "whole number"),
    ],
)
def test_limit_out_of_bounds(raw: str, fragment: str) -> None:
    err = bad({"limit": raw})
    assert "'limit'" in err.message
    assert fragment in err.message
    assert err.details == {"parameter": "limit"}


@pytest.mark.parametrize(("raw", "expected"), [("0", 0), ("120", 120), ("10000000", 10_000_000)])
def test_offset_within_bounds(raw: str, expected: int) -> None:
    assert parse_list_query({"offset": raw}, SPEC).offset == expected


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [("-1", "from 0 to 10000000"), ("10000001", "from 0 to 10000000"), ("x", "whole number")],
)
def test_offset_out_of_bounds(raw: str, fragment: str) -> None:
    err = bad({"offset": raw})
    assert fragment in err.message
    assert err.details == {"parameter": "offset"}


# --- sorting ------------------------------------------------------------------------------------


def test_sort_with_descending_marker() -> None:
    query = parse_list_query({"sort": "-created_at,username"}, SPEC)
    assert query.sort == (("created_at", True), ("username", False))


def test_sort_ignores_blanks_and_accepts_plus() -> None:
    query = parse_list_query({"sort": " +id , ,-username,"}, SPEC)
    assert query.sort == (("id", False), ("username", True))


def test_empty_sort_falls_back_to_the_default() -> None:
    assert parse_list_query({"sort": ""}, SPEC).sort == (
        ("created_at", True),
        ("username", False),
    )


@pytest.mark.parametrize("raw", ["password_hash", "-email", "username,bogus"])
def test_unknown_sort_field(raw: str) -> None:
    err = bad({"sort": raw})
    assert "cannot sort by" in err.message
    assert "sortable fields: username, created_at, id" in err.message
    assert err.details == {"parameter": "sort", "allowed": ["username", "created_at", "id"]}


# --- unknown parameters -------------------------------------------------------------------------


def test_parameter_names_list_every_operator() -> None:
    assert SPEC.parameter_names() == [
        "limit",
        "offset",
        "sort",
        "q",
        "username",
        "username__in",
        "username__contains",
        "is_active",
        "id",
        "id__in",
        "id__gte",
        "id__lte",
        "created_at__gte",
        "created_at__lte",
        "language",
        "language__in",
    ]


@pytest.mark.parametrize(
    "name",
    [
        "colour",
        "page",
        "is_active__in",  # field exists, operator not allowed
        "username__gte",
        "created_at",  # only __gte/__lte are declared
        "id__between",
        "password_hash",
    ],
)
def test_unknown_parameter_lists_the_allowed_ones(name: str) -> None:
    err = bad({name: "1"})
    assert err.message.startswith(f"unknown query parameter {name!r}; allowed: ")
    assert err.message.endswith(", ".join(SPEC.parameter_names()))
    assert err.details == {"parameter": name, "allowed": SPEC.parameter_names()}


def test_q_is_unknown_where_the_list_has_no_search() -> None:
    err = bad({"q": "alice"}, NO_SEARCH)
    assert err.details == {"parameter": "q", "allowed": ["limit", "offset", "sort"]}


# --- free text ----------------------------------------------------------------------------------


def test_q_is_stripped_and_bounded() -> None:
    assert parse_list_query({"q": "  alice  "}, SPEC).q == "alice"
    assert parse_list_query({"q": "   "}, SPEC).q is None
    assert parse_list_query({"q": "x" * 300}, SPEC).q == "x" * 200


# --- filter values ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("true", True),
        ("TRUE", True),
        ("1", True),
        ("yes", True),
        ("false", False),
        ("False", False),
        ("0", False),
        ("no", False),
    ],
)
def test_bool_values(raw: str, expected: bool) -> None:
    assert filters_of({"is_active": raw}) == (("is_active", "eq", expected),)


@pytest.mark.parametrize("raw", ["maybe", "", "2", "on"])
def test_bad_bool_value(raw: str) -> None:
    err = bad({"is_active": raw})
    assert err.message == "query parameter 'is_active' must be true or false"
    assert err.details == {"parameter": "is_active"}


def test_int_values() -> None:
    assert filters_of({"id": "42"}) == (("id", "eq", 42),)
    assert filters_of({"id__gte": "-3"}) == (("id", "gte", -3),)
    assert filters_of({"id__lte": str(2**63 - 1)}) == (("id", "lte", 2**63 - 1),)


@pytest.mark.parametrize("raw", ["forty", "1.5", "", str(2**63)])
def test_bad_int_value(raw: str) -> None:
    err = bad({"id__gte": raw})
    assert "'id__gte'" in err.message
    assert err.details == {"parameter": "id__gte"}


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2024-05-01T10:00:00Z", datetime(2024, 5, 1, 10, tzinfo=UTC)),
        (
            "2024-05-01T10:00:00+02:00",
            datetime(2024, 5, 1, 10, tzinfo=timezone(timedelta(hours=2))),
        ),
        ("2024-05-01T08:00:00.250000+00:00", datetime(2024, 5, 1, 8, 0, 0, 250000, tzinfo=UTC)),
    ],
)
def test_datetime_values(raw: str, expected: datetime) -> None:
    ((name, op, value),) = filters_of({"created_at__gte": raw})
    assert (name, op) == ("created_at", "gte")
    assert isinstance(value, datetime)
    assert value == expected
    assert value.utcoffset() == expected.utcoffset()


@pytest.mark.parametrize("raw", ["2024-05-01T10:00:00", "2024-05-01"])
def test_datetime_without_time_zone_is_rejected(raw: str) -> None:
    err = bad({"created_at__lte": raw})
    assert "needs a time zone" in err.message
    assert err.details == {"parameter": "created_at__lte"}


@pytest.mark.parametrize("raw", ["yesterday", "2024-13-01T00:00:00Z", ""])
def test_datetime_that_is_not_iso_is_rejected(raw: str) -> None:
    err = bad({"created_at__gte": raw})
    assert "ISO 8601 date-time with a time zone" in err.message


def test_choice_values() -> None:
    assert filters_of({"language": "el"}) == (("language", "eq", "el"),)
    err = bad({"language": "fr"})
    assert err.message == "query parameter 'language' must be one of: en, el, de"
    assert err.details == {"parameter": "language", "allowed": ["en", "el", "de"]}


def test_in_splits_and_converts_each_value() -> None:
    assert filters_of({"username__in": "alice,bob,,carol"}) == (
        ("username", "in", ["alice", "bob", "carol"]),
    )
    assert filters_of({"id__in": "3,1,2"}) == (("id", "in", [3, 1, 2]),)
    assert filters_of({"language__in": "en,de"}) == (("language", "in", ["en", "de"]),)


@pytest.mark.parametrize(("name", "raw"), [("id__in", "1,two,3"), ("language__in", "en,fr")])
def test_in_rejects_a_bad_member(name: str, raw: str) -> None:
    err = bad({name: raw})
    assert f"{name!r}" in err.message
    assert err.details["parameter"] == name


def test_string_value_length_is_bounded() -> None:
    assert filters_of({"username__contains": "a" * 500}) == (("username", "contains", "a" * 500),)
    err = bad({"username__contains": "a" * 501})
    assert err.message == "query parameter 'username__contains' is too long"


def test_everything_together_keeps_filter_order() -> None:
    query = parse_list_query(
        {
            "limit": "10",
            "offset": "20",
            "sort": "username",
            "q": "ann",
            "language": "en",
            "is_active": "yes",
            "created_at__gte": "2024-01-01T00:00:00Z",
            "id__lte": "99",
        },
        SPEC,
    )
    assert query == ListQuery(
        limit=10,
        offset=20,
        sort=(("username", False),),
        filters=(
            ("language", "eq", "en"),
            ("is_active", "eq", True),
            ("created_at", "gte", datetime(2024, 1, 1, tzinfo=UTC)),
            ("id", "lte", 99),
        ),
        q="ann",
    )


def test_equality_is_only_the_bare_field_name() -> None:
    err = bad({"username__eq": "ann"})
    assert "username__eq" in err.message


@pytest.mark.parametrize("raw", ["1_0", " 10", "10 ", "+5", "1e2"])
def test_whole_numbers_are_plain_digits(raw: str) -> None:
    assert "limit" in bad({"limit": raw}).message


def test_datetime_that_overflows_in_utc_is_a_clear_error() -> None:
    err = bad({"created_at__gte": "0001-01-01T00:00:00+05:00"})
    assert "out of range" in err.message
