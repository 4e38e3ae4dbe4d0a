"""Tests of the AMI wire format against every recorded trace."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from telephony.protocol import AmiMessage, AmiParser, MissingHeader, parse_stream

from .traces import all_messages, load_timeline, timeline_names, traces_dir


@pytest.mark.parametrize("name", timeline_names())
def test_every_timeline_record_parses_to_one_message(name: str) -> None:
    for line in load_timeline(name):
        if line.dir == "note":
            continue
        parser = AmiParser()
        messages = parser.feed(line.data.encode())
        if line.data.startswith("Asterisk Call Manager/"):
            assert messages == []
            assert parser.banner == line.data.strip()
        else:
            assert len(messages) == 1, line
            # Asterisk sometimes sends a stray empty line before a message (04b, 07c).
            assert messages[0].encode().decode() == line.data.lstrip("\r\n")
            assert not parser.pending()


@pytest.mark.parametrize("path", sorted(traces_dir().glob("*.ami")), ids=lambda p: p.stem)
def test_whole_ami_file_parses_in_odd_chunks(path: object) -> None:
    from pathlib import Path

    assert isinstance(path, Path)
    raw = path.read_bytes()
    whole = parse_stream([raw])
    chunked = parse_stream(raw[i : i + 7] for i in range(0, len(raw), 7))
    assert whole == chunked
    timeline = [m for m in all_messages(path.stem)]
    assert len(whole) == len(timeline)
    assert [m.message for m in timeline] == whole


def test_repeated_headers_and_variables_are_kept() -> None:
    msg = parse_stream(
        [b"Action: Originate\r\nVariable: A=1\r\nVariable: B=x=y\r\nChannel: L\r\n\r\n"]
    )[0]
    assert msg.kind == "action"
    assert msg.name == "Originate"
    assert msg.get_all("variable") == ("A=1", "B=x=y")
    assert msg.variables() == {"A": "1", "B": "x=y"}
    assert msg["channel"] == "L"
    with pytest.raises(MissingHeader):
        msg.require("Uniqueid")


def test_empty_values_are_empty_strings_not_missing() -> None:
    msg = parse_stream([b"Event: Newchannel\r\nAccountCode: \r\n\r\n"])[0]
    assert msg.get("AccountCode") == ""
    assert "AccountCode" in msg
    assert "Linkedid" not in msg


def test_response_follows_output_is_kept() -> None:
    raw = (
        b"Response: Follows\r\nPrivilege: Command\r\nActionID: 1\r\n"
        b"line one\r\nline two\r\n--END COMMAND--\r\n\r\n"
        b"Event: Ping\r\n\r\n"
    )
    msgs = parse_stream([raw])
    assert len(msgs) == 2
    assert msgs[0].get_all("Output") == ("line one", "line two")
    assert msgs[1].event == "Ping"


def test_banner_between_messages() -> None:
    parser = AmiParser()
    msgs = parser.feed(b"Asterisk Call Manager/11.0.0\r\nResponse: Success\r\n\r\n")
    assert parser.banner == "Asterisk Call Manager/11.0.0"
    assert msgs == [AmiMessage.build(("Response", "Success"))]


def test_encoder_refuses_line_breaks() -> None:
    with pytest.raises(ValueError, match="line break"):
        AmiMessage.build(Action="Ping\r\nAction: Hangup").encode()


_name = st.text(alphabet=st.characters(min_codepoint=65, max_codepoint=90), min_size=1)
_value = st.text(
    alphabet=st.characters(blacklist_characters="\r\n", blacklist_categories=("Cs",)), max_size=20
).map(lambda s: s.strip())


@given(
    st.lists(st.lists(st.tuples(_name, _value), min_size=1, max_size=6), max_size=5),
    st.integers(1, 30),
)
def test_encode_parse_round_trip(messages: list[list[tuple[str, str]]], chunk: int) -> None:
    originals = [AmiMessage((("Event", "X"), *pairs)) for pairs in messages]
    raw = b"".join(m.encode() for m in originals)
    assert parse_stream(raw[i : i + chunk] for i in range(0, len(raw), chunk)) == originals
