"""Which model input each leaderboard cell renders."""

from __future__ import annotations


def test_a_cell_plays_an_hf_model_on_its_saved_protocol(tmp_path):
    """#20: the leaderboard renders a trained model's episodes with the protocol saved beside it
    (the shipped agent: a conversation), and other policies with the suite's default (no history)."""
    from cotdiag.agents.pretrained import shipped_path
    from cotdiag.leaderboard.run import cell_env_factory
    from cotdiag.leaderboard.suite import get_suite
    from cotdiag.response.protocol import DecodingProtocol, load_protocol

    entry = get_suite("smoke").entries[0]
    shipped = cell_env_factory(entry, "cot", "hf:smollm2-135m-alfworld")
    assert shipped.protocol == load_protocol(shipped_path("smollm2-135m-alfworld")) and shipped.protocol.conversation
    DecodingProtocol(history="window", window=2).save(tmp_path)
    assert cell_env_factory(entry, "cot", f"hf:{tmp_path}").protocol.window == 2
    for spec in ("expert", "random", f"hf:{tmp_path / 'missing'}"):
        f = cell_env_factory(entry, "prompt", spec)
        assert f.protocol is None and f.history_window == 0
