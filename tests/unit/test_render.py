"""Tests for bot.render: sandboxed, strict Jinja2 rendering with an operator override directory."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from bot.errors import RenderError
from bot.model import KEY_PACKAGES, Release
from bot.render import DEFAULT_TEMPLATE_DIR, Renderer

DATA = Path(__file__).resolve().parents[1] / "data"


def _write(base: Path, name: str, body: str) -> Path:
    path = base / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(body, encoding="utf-8")
    return path


def _release(**overrides: object) -> Release:
    fields: dict[str, object] = {
        "source": "flatcar",
        "project": "Flatcar Container Linux",
        "stream": "stable",
        "channel": "stable",
        "version": "4593.2.5",
        "published": datetime(2026, 8, 13, 15, 48, 30, tzinfo=UTC),
    }
    fields.update(overrides)
    return Release(**fields)  # type: ignore[arg-type]


@pytest.fixture
def dirs(tmp_path: Path) -> tuple[Path, Path]:
    default = tmp_path / "default"
    override = tmp_path / "override"
    default.mkdir()
    override.mkdir()
    return default, override


def test_default_template_dir_is_repo_templates_or_packaged_copy() -> None:
    repo = Path(__file__).resolve().parents[2] / "templates"
    packaged = Path(__file__).resolve().parents[2] / "bot" / "templates"
    expected = next((p for p in (repo, packaged) if p.is_dir()), repo)
    assert expected == DEFAULT_TEMPLATE_DIR
    assert Renderer().template_dir == DEFAULT_TEMPLATE_DIR


def test_render_basic_and_has(tmp_path: Path) -> None:
    _write(tmp_path, "irc/release.j2", "{{ release.project }} {{ release.version }} is out\n")
    renderer = Renderer(template_dir=tmp_path)
    assert renderer.render("irc/release.j2", release=_release()) == "Flatcar Container Linux 4593.2.5 is out"
    assert renderer.has("irc/release.j2")
    assert not renderer.has("irc/promotion.j2")


def test_trim_and_lstrip_blocks(tmp_path: Path) -> None:
    _write(
        tmp_path,
        "console/release.j2",
        "Packages:\n    {% for name in names %}\n- {{ name }}\n    {% endfor %}\nend\n",
    )
    out = Renderer(template_dir=tmp_path).render("console/release.j2", names=["kernel", "systemd"])
    assert out == "Packages:\n- kernel\n- systemd\nend"


def test_override_dir_wins(dirs: tuple[Path, Path]) -> None:
    default, override = dirs
    _write(default, "irc/release.j2", "default {{ v }}")
    _write(default, "irc/promotion.j2", "default promotion {{ v }}")
    _write(override, "irc/release.j2", "operator {{ v }}")
    renderer = Renderer(override_dir=override, template_dir=default)
    assert renderer.render("irc/release.j2", v=1) == "operator 1"
    # names the operator did not override still come from the default directory
    assert renderer.render("irc/promotion.j2", v=2) == "default promotion 2"
    assert renderer.has("irc/promotion.j2")
    # without the override dir, the default wins
    assert Renderer(template_dir=default).render("irc/release.j2", v=3) == "default 3"


def test_override_can_include_default_templates(dirs: tuple[Path, Path]) -> None:
    default, override = dirs
    _write(default, "mail/footer.j2", "-- release-bot")
    _write(override, "mail/release.txt.j2", 'custom\n{% include "mail/footer.j2" %}')
    out = Renderer(override_dir=override, template_dir=default).render("mail/release.txt.j2")
    assert out == "custom\n-- release-bot"


def test_strict_undefined_raises_render_error_naming_template(tmp_path: Path) -> None:
    _write(tmp_path, "irc/release.j2", "first line\n{{ release.version }} {{ no_such_variable }}\n")
    renderer = Renderer(template_dir=tmp_path)
    with pytest.raises(RenderError) as info:
        renderer.render("irc/release.j2", release=_release())
    message = str(info.value)
    assert "irc/release.j2" in message
    assert "no_such_variable" in message
    assert "line 2" in message


def test_undefined_attribute_raises(tmp_path: Path) -> None:
    _write(tmp_path, "irc/release.j2", "{{ release.no_such_field }}")
    with pytest.raises(RenderError, match=r"irc/release\.j2.*no_such_field"):
        Renderer(template_dir=tmp_path).render("irc/release.j2", release=_release())


def test_undefined_in_included_template_names_both(tmp_path: Path) -> None:
    _write(tmp_path, "mail/part.j2", "ok\nok\n{{ missing }}")
    _write(tmp_path, "mail/release.txt.j2", '{% include "mail/part.j2" %}')
    with pytest.raises(RenderError) as info:
        Renderer(template_dir=tmp_path).render("mail/release.txt.j2")
    message = str(info.value)
    assert "mail/release.txt.j2" in message and "mail/part.j2" in message and "line 3" in message


def test_syntax_error_raises_render_error_with_line(tmp_path: Path) -> None:
    _write(tmp_path, "mail/release.subject.j2", "ok\n{% if x %}\nno endif\n")
    with pytest.raises(RenderError) as info:
        Renderer(template_dir=tmp_path).render("mail/release.subject.j2", x=True)
    message = str(info.value)
    assert "mail/release.subject.j2" in message
    assert "syntax error" in message
    assert "line" in message


def test_missing_template_raises_render_error(tmp_path: Path) -> None:
    with pytest.raises(RenderError, match=r"'irc/release\.j2' not found"):
        Renderer(template_dir=tmp_path).render("irc/release.j2")


@pytest.mark.parametrize(
    "body",
    [
        "{{ ''.__class__.__mro__ }}",
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",
        "{{ release.__class__.__init__.__globals__ }}",
        "{{ cycler.__init__.__globals__.os }}",
        "{{ names.append('x') }}",  # the immutable sandbox forbids mutating context values
        "{{ data.update({'a': 1}) }}",
    ],
)
def test_sandbox_blocks_unsafe_access(tmp_path: Path, body: str) -> None:
    _write(tmp_path, "irc/release.j2", body)
    names = ["kernel"]
    data = {"k": "v"}
    with pytest.raises(RenderError, match=r"irc/release\.j2") as info:
        Renderer(template_dir=tmp_path).render("irc/release.j2", release=_release(), names=names, data=data)
    assert "unsafe" in str(info.value) or "undefined" in str(info.value)
    assert names == ["kernel"] and data == {"k": "v"}


def test_runtime_errors_become_render_errors(tmp_path: Path) -> None:
    _write(tmp_path, "a.j2", "{{ 1 / 0 }}")
    _write(tmp_path, "b.j2", "{{ 'x' + 1 }}")
    _write(tmp_path, "c.j2", "{{ 'abc' | truncate_bytes(1) }}")
    renderer = Renderer(template_dir=tmp_path)
    for name in ("a.j2", "b.j2", "c.j2"):
        with pytest.raises(RenderError, match=name.replace(".", r"\.")):
            renderer.render(name)


def test_html_templates_autoescape_text_templates_do_not(tmp_path: Path) -> None:
    body = "{{ title }}"
    for name in ("mail/release.html.j2", "mail/release.html", "mail/RELEASE.HTML.J2", "mail/release.txt.j2"):
        _write(tmp_path, name, body)
    _write(tmp_path, "irc/release.j2", body)
    renderer = Renderer(template_dir=tmp_path)
    title = "<script>alert('x')</script> & co"
    escaped = "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; co"
    assert renderer.render("mail/release.html.j2", title=title) == escaped
    assert renderer.render("mail/release.html", title=title) == escaped
    assert renderer.render("mail/RELEASE.HTML.J2", title=title) == escaped
    assert renderer.render("mail/release.txt.j2", title=title) == title
    assert renderer.render("irc/release.j2", title=title) == title


def test_filters_sanitize_and_truncate(tmp_path: Path) -> None:
    _write(tmp_path, "irc/release.j2", "{{ title | sanitize | truncate_bytes(16) }}")
    out = Renderer(template_dir=tmp_path).render("irc/release.j2", title="hi\r\nQUIT :bye\x01 now and later")
    assert out == "hi QUIT :bye…"
    assert len(out.encode()) <= 16


def test_filter_sanitize_handles_none_and_numbers(tmp_path: Path) -> None:
    _write(tmp_path, "t.j2", "[{{ a | sanitize }}][{{ b | sanitize }}]")
    assert Renderer(template_dir=tmp_path).render("t.j2", a=None, b=42) == "[][42]"


def test_filters_html_markdown_wrap(tmp_path: Path) -> None:
    _write(tmp_path, "a.j2", "{{ h | html_to_text }}|{{ m | markdown_to_text }}")
    _write(tmp_path, "b.j2", "{{ long | wrap(20) }}")
    renderer = Renderer(template_dir=tmp_path)
    assert renderer.render("a.j2", h="<p>A &amp;lt; <b>B</b></p>", m="**bold** [link](https://x)") == (
        "A &lt; B|bold link"
    )
    wrapped = renderer.render("b.j2", long="- " + "word " * 10)
    assert wrapped.splitlines() == ["- word word word", "  word word word", "  word word word", "  word"]


@pytest.mark.parametrize(
    ("notes", "notes_format", "expected_start"),
    [
        (
            (DATA / "notes-4593.2.5.md").read_text(encoding="utf-8"),
            "markdown",
            "Changes since Stable 4593.2.4",
        ),
        (
            (DATA / "feed-stable-entry.html").read_text(encoding="utf-8"),
            "html",
            "Changes since Stable 4593.2.4",
        ),
        ("  plain notes, **as is**  ", "text", "plain notes, **as is**"),
    ],
)
def test_notes_text_filter(tmp_path: Path, notes: str, notes_format: str, expected_start: str) -> None:
    _write(tmp_path, "mail/release.txt.j2", "{{ release | notes_text }}")
    release = _release(notes=notes, notes_format=notes_format)
    out = Renderer(template_dir=tmp_path).render("mail/release.txt.j2", release=release)
    assert out.startswith(expected_start)
    if notes_format != "text":
        assert "<" not in out and "](" not in out and "Security fixes:" in out


def test_isodate_isotime(tmp_path: Path) -> None:
    _write(
        tmp_path,
        "t.j2",
        "{{ d | isodate }} / {{ d | isotime }} / {{ none | isodate }} / {{ none | isotime }}",
    )
    renderer = Renderer(template_dir=tmp_path)
    aware = datetime(2026, 8, 13, 15, 48, 59, tzinfo=UTC)
    assert renderer.render("t.j2", d=aware, none=None) == (
        "2026-08-13 / 2026-08-13 15:48 UTC / unknown date / unknown time"
    )
    # other time zones are converted to UTC (here across midnight)
    cest = datetime(2026, 8, 14, 1, 30, tzinfo=timezone(timedelta(hours=2)))
    assert renderer.render("t.j2", d=cest, none=None).startswith("2026-08-13 / 2026-08-13 23:30 UTC")
    # naive datetimes are taken as UTC
    assert renderer.render("t.j2", d=datetime(2026, 1, 2, 3, 4), none=None).startswith(
        "2026-01-02 / 2026-01-02 03:04 UTC"
    )


def test_isodate_rejects_strings(tmp_path: Path) -> None:
    _write(tmp_path, "t.j2", "{{ d | isodate }}")
    with pytest.raises(RenderError, match="isodate"):
        Renderer(template_dir=tmp_path).render("t.j2", d="2026-08-13")


def test_key_packages_global(tmp_path: Path) -> None:
    _write(tmp_path, "t.j2", "{% for name in KEY_PACKAGES %}{{ name }}={{ pkgs[name] }} {% endfor %}")
    pkgs = {
        "kernel": "6.12.102",
        "systemd": "257",
        "docker": "28.0.4",
        "containerd": "2.1.5",
        "ignition": "2.24.0",
    }
    out = Renderer(template_dir=tmp_path).render("t.j2", pkgs=pkgs)
    assert out.split() == [f"{name}={pkgs[name]}" for name in KEY_PACKAGES]


def test_no_trailing_newline(tmp_path: Path) -> None:
    _write(tmp_path, "mail/release.subject.j2", "[{{ channel }}] {{ version }}\n")
    out = Renderer(template_dir=tmp_path).render("mail/release.subject.j2", channel="stable", version="1.2.3")
    assert out == "[stable] 1.2.3"


def test_templates_are_read_once_per_process(tmp_path: Path) -> None:
    """No stat of the template files per render: an override edited under a running bot is used by the
    next process (README, Templates: restart after editing one)."""
    import os

    from bot.presentation.engine import Templates

    (tmp_path / "irc").mkdir()
    override = tmp_path / "irc" / "note.j2"
    override.write_text("first {{ x }}")
    templates = Templates([tmp_path])
    assert templates.render("irc/note.j2", x=1) == "first 1"
    override.write_text("second {{ x }}")
    later = override.stat().st_mtime + 10
    os.utime(override, (later, later))  # an edit a reloading environment would notice
    assert templates.render("irc/note.j2", x=2) == "first 2"
    assert Templates([tmp_path]).render("irc/note.j2", x=3) == "second 3"
