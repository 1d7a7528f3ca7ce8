"""The Debian mirror comes from the machine's own apt sources, in either format apt reads."""

from __future__ import annotations

import pytest

from synth.envs.apt_mirror import MirrorNotFound, mirror_from_sources

DEB822 = """\
# Managed by the image build; the first stanza serves sources only.
Types: deb-src
URIs: http://sources.example/debian
Suites: bookworm
Components: main

Types: deb
# a comment inside a stanza
URIs: http://mirror.example/debian/ http://fallback.example/debian
Suites: bookworm bookworm-updates
Components: main contrib
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://security.example/debian-security
Suites: bookworm-security
Components: main
"""


def test_first_binary_stanza_listing_the_suite_gives_its_first_uri() -> None:
    assert mirror_from_sources([DEB822], [], "bookworm") == "http://mirror.example/debian"
    assert mirror_from_sources([DEB822], [], "bookworm-updates") == "http://mirror.example/debian"


def test_suites_match_whole_words_only() -> None:
    assert (mirror_from_sources([DEB822], [], "bookworm-security")
            == "http://security.example/debian-security")


def test_a_commented_out_stanza_serves_nothing() -> None:
    text = "# Types: deb\n# URIs: http://old.example/debian\n# Suites: bookworm\n"
    with pytest.raises(MirrorNotFound):
        mirror_from_sources([text], [], "bookworm")


def test_stanzas_separated_by_whitespace_only_lines_are_apart() -> None:
    text = ("Types: deb\nURIs: http://a.example/debian\nSuites: bullseye\n   \n"
            "Types: deb\nURIs: http://b.example/debian\nSuites: bookworm\n")
    assert mirror_from_sources([text], [], "bookworm") == "http://b.example/debian"


def test_continuation_lines_of_an_inline_key_are_not_fields() -> None:
    text = (
        "Types: deb\n"
        "Signed-By:\n"
        " -----BEGIN PGP PUBLIC KEY BLOCK-----\n"
        " Suites: not-a-field\n"
        " .\n"
        " -----END PGP PUBLIC KEY BLOCK-----\n"
        "URIs: http://mirror.example/debian\n"
        "Suites: bookworm\n"
    )
    assert mirror_from_sources([text], [], "bookworm") == "http://mirror.example/debian"
    with pytest.raises(MirrorNotFound):
        mirror_from_sources([text], [], "not-a-field")


def test_one_line_entries_with_options_are_read() -> None:
    lines = (
        "# deb http://commented.example/debian bookworm main\n"
        "deb-src http://sources.example/debian bookworm main\n"
        "deb [arch=amd64 signed-by=/usr/share/keyrings/x.gpg] http://mirror.example/debian/ "
        "bookworm main\n"
    )
    assert mirror_from_sources([], [lines], "bookworm") == "http://mirror.example/debian"


def test_options_with_spaces_inside_the_brackets_are_skipped_whole() -> None:
    line = "deb [ arch=amd64 trusted=yes ] http://mirror.example/debian bookworm main\n"
    assert mirror_from_sources([], [line], "bookworm") == "http://mirror.example/debian"


def test_deb822_sources_are_preferred_over_one_line_entries() -> None:
    one_line = "deb http://legacy.example/debian bookworm main\n"
    assert mirror_from_sources([DEB822], [one_line], "bookworm") == "http://mirror.example/debian"


def test_one_line_entries_are_the_fallback_when_no_stanza_serves_the_suite() -> None:
    one_line = "deb http://legacy.example/debian trixie main\n"
    assert mirror_from_sources([DEB822], [one_line], "trixie") == "http://legacy.example/debian"


def test_no_source_for_the_suite_tells_the_user_about_base_image() -> None:
    with pytest.raises(MirrorNotFound, match="--base-image") as info:
        mirror_from_sources([DEB822], ["deb http://legacy.example/debian bullseye main\n"],
                            "trixie")
    assert "'trixie'" in str(info.value)


def test_no_sources_at_all_is_not_found() -> None:
    with pytest.raises(MirrorNotFound):
        mirror_from_sources([], [], "bookworm")


def test_a_stanza_serving_both_types_is_used_whatever_their_order() -> None:
    text = "Types: deb-src deb\nURIs: http://mirror.example/debian\nSuites: bookworm\n"
    assert mirror_from_sources([text], [], "bookworm") == "http://mirror.example/debian"


def test_a_disabled_stanza_is_not_used() -> None:
    text = ("Types: deb\nURIs: http://disabled.example/debian\nSuites: bookworm\nEnabled: no\n\n"
            "Types: deb\nURIs: http://mirror.example/debian\nSuites: bookworm\n")
    assert mirror_from_sources([text], [], "bookworm") == "http://mirror.example/debian"
