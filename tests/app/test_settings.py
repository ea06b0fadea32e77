"""The writer's settings file (app.settings): read, checked value by value, written atomically, and what
the writing service samples with."""

from __future__ import annotations

import pytest

from app import settings, writing
from engine.document import Document


@pytest.fixture
def config(tmp_path, monkeypatch):
    path = tmp_path / "cfg" / "config.toml"
    monkeypatch.setenv(settings.ENV, str(path))
    return path


def test_scriba_config_names_the_file_and_a_missing_one_is_the_defaults(config):
    assert settings.path() == config
    assert settings.load() == (settings.Settings(), None)


def test_the_default_file_is_in_the_user_config_folder(monkeypatch, tmp_path):
    monkeypatch.delenv(settings.ENV, raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    assert settings.path() == tmp_path / "xdg" / "scriba" / "config.toml"


def test_saved_settings_read_back_the_same(config):
    mine = settings.Settings(theme="textual-light", candidates=5, temperature=0.3, top_p=0.8, autosave=False,
                             caps={"sentence": 120, "section": 900}, keymap={"expand": "E", "help": "f1,ctrl+h"})
    assert settings.save(mine) == config
    assert settings.load() == (mine, None)
    text = config.read_text()
    assert 'theme = "textual-light"' in text and "[caps]" in text and '"expand" = "E"' in text


def test_a_hand_written_file_is_read(config):
    config.parent.mkdir()
    config.write_text('candidates = 4\ntop_p = 1\n\n[caps]\nparagraph = 300\n\n[keymap]\ntoggle_outline = "f6"\n')
    got, problem = settings.load()
    assert problem is None
    assert (got.candidates, got.top_p, got.caps, got.keymap) == (4, 1.0, {"paragraph": 300}, {"toggle_outline": "f6"})
    assert got.temperature == settings.Settings().temperature


def test_a_file_that_is_not_toml_gives_the_defaults_and_one_line(config):
    config.parent.mkdir()
    config.write_text("candidates = = 3\n[caps\n")
    got, problem = settings.load()
    assert got == settings.Settings()
    assert problem.startswith(f"settings {config}: not valid TOML") and problem.endswith("using the defaults")
    assert "\n" not in problem


@pytest.mark.parametrize("line, named", [
    ('temperature = "hot"', "temperature must be a number"),
    ("candidates = 12", "candidates must be from 1 to 9"),
    ("candidates = 2.5", "candidates must be a whole number"),
    ("top_p = 0", "top_p must be above 0"),
    ("autosave = 1", "autosave must be true or false"),
    ("[caps]\nchapter = 10", "caps: no level 'chapter'"),
    ('[keymap]\nexpand = ""', "keymap.expand must be keys"),
    ("colour = 'red'", "unknown setting 'colour'"),
])
def test_a_bad_value_keeps_its_default_and_the_rest_of_the_file(config, line, named):
    config.parent.mkdir()
    config.write_text(f'theme = "textual-light"\n{line}\n')
    got, problem = settings.load()
    assert got.theme == "textual-light"  # the good value is kept
    assert named in problem and problem.endswith("using the default there") and "\n" not in problem


def test_several_bad_values_are_counted_in_one_line(config):
    config.parent.mkdir()
    config.write_text("candidates = 0\ntemperature = 9\n")
    got, problem = settings.load()
    assert got == settings.Settings()
    assert "candidates" in problem and "(and 1 more)" in problem


def test_an_unreadable_file_being_replaced_is_kept_beside_it(config):
    config.parent.mkdir()
    config.write_text("this is [not toml\n")
    settings.save(settings.Settings(candidates=2))
    assert settings.load()[0].candidates == 2
    assert config.with_name("config.toml.bad").read_text() == "this is [not toml\n"


def test_a_file_that_is_not_utf8_gives_the_defaults(config):
    config.parent.mkdir()
    config.write_bytes(b"theme = \"\xff\"\n")
    got, problem = settings.load()
    assert got == settings.Settings() and "cannot read it" in problem


def test_changed_checks_each_value():
    s = settings.changed(settings.Settings(), candidates=4, caps={"heading": 50})
    assert s.candidates == 4 and s.caps == {"heading": 50}
    with pytest.raises(settings.SettingsError, match="temperature"):
        settings.changed(s, temperature=-1)


def test_the_sampling_caps_each_level_the_writer_capped():
    doc = Document.from_markdown("# Title\n\nOne sentence here. Another one.\n")
    sentence = next(n.id for n in doc.walk() if str(n.kind) == "sentence")
    sampling = settings.Settings(candidates=4, temperature=0.5, top_p=0.9, caps={"sentence": 17}).sampling(seed=1)
    proposal = writing.propose(doc, sentence, "rewrite", sampling=sampling)
    assert proposal.request.max_bytes == 17
    assert (proposal.request.n, proposal.request.temperature, proposal.request.top_p) == (4, 0.5, 0.9)
    heading = next(n.id for n in doc.walk() if str(n.kind) == "heading")
    uncapped = writing.propose(doc, heading, "summarise", sampling=sampling)
    assert uncapped.request.max_bytes == writing.propose(doc, heading, "summarise").request.max_bytes
