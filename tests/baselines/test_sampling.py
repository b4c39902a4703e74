"""Where a sampled completion ends (``baselines.sampling.trim_completion``): a step completion keeps its
end-of-sequence token as TRL's own generation does, so ``mask_truncated_completions`` reads a completion
cut by the budget as truncated; an episode turn ends after the closing action tag."""

from __future__ import annotations

from types import SimpleNamespace

from cotdiag.baselines.sampling import trim_completion

EOS, PAD = 0, 1
VOCAB = {2: "<action>", 3: "go", 4: "</action>", 5: " more"}


def _tok():
    return SimpleNamespace(eos_token_id=EOS, pad_token_id=PAD,
                           decode=lambda ids, skip_special_tokens=False: "".join(VOCAB.get(i, "") for i in ids))


def test_step_completion_keeps_its_end_token_and_a_cut_one_has_none():
    ids, lps = trim_completion([2, 3, 4, EOS, PAD, PAD], [-1.0] * 6, _tok(), stop_at_action=False)
    assert ids == [2, 3, 4, EOS] and lps == [-1.0] * 4  # TRL: the completion ends with EOS -> not truncated
    ids, _ = trim_completion([2, 3, 5, 5], [-1.0] * 4, _tok(), stop_at_action=False)
    assert ids == [2, 3, 5, 5] and ids[-1] != EOS  # the budget cut it: TRL's mask_truncated_completions sees it


def test_episode_turn_ends_after_the_action_tag_and_is_never_empty():
    ids, lps = trim_completion([2, 3, 4, 5, EOS], [-0.5] * 5, _tok(), stop_at_action=True)
    assert ids == [2, 3, 4] and lps == [-0.5] * 3
    assert trim_completion([EOS, 3], [-0.1, -0.2], _tok(), stop_at_action=True)[0] == [EOS]
    assert trim_completion([3, EOS], [-0.1, -0.2], _tok(), stop_at_action=True)[0] == [3]
