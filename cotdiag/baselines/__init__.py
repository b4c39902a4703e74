"""Baseline trainers and the embedded default model.

Modules (import them directly; nothing heavy is imported here):

* :mod:`cotdiag.baselines.tiny`: ``TinyModelConfig``, ``train_tokenizer``, ``build_tiny_model``, ``load_or_build_model``,
  ``make_tiny_default`` (BPE tokenizer + few-million-parameter Qwen2, saved in HF format).
* :mod:`cotdiag.baselines.data`: ``build_dataset`` (expert datasets with CoT, one row per step),
  ``DataConfig``, ``load_jsonl_traces``, ``templated_traces``.
* :mod:`cotdiag.baselines.sft`: ``ActionMaskSFTConfig`` (TRL ``SFTConfig`` + ``action_mask_ratio``,
  ``response_format``), ``ActionMaskingCollator``, ``tokenize_example``, ``train_sft``.
* :mod:`cotdiag.baselines.grpo`: ``ActionMaskGRPOConfig``, ``EnvReplayReward``,
  ``StepRollout``, ``train_grpo`` (GRPO on environment reward).
* :mod:`cotdiag.baselines.sampling`: ``sample_completions`` (batched sampling with log-probabilities for
  both GRPO ``rollout_func``s).
* :mod:`cotdiag.baselines.sb3`: ``SB3Config``, ``train_sb3``, ``SB3Policy`` (PPO over admissible actions).
"""
