#!/bin/bash
# The CPU recipe of the shipped ALFWorld agent (`smollm2-135m-alfworld`, docs/baselines.md).
#
#   benchmarks/study_smollm2/train_agent.sh                        # CoT format, k = 0
#   FORMAT=prompt benchmarks/study_smollm2/train_agent.sh          # the prompt-format arm
#   K=0.3 benchmarks/study_smollm2/train_agent.sh                  # the k = 0.3 arm (decision-level masking)
#   OUT=runs/agent-plan TRACES=search-plan INIT=smollm2-135m-alfworld EPOCHS=1 LR=5e-4 GAMES=240 \
#     benchmarks/study_smollm2/train_agent.sh                      # stage 2: rationales that state the search plan
#   OUT=runs/agent330 INIT=smollm2-135m-alfworld RECOVERY=0.5 EPOCHS=1 LR=5e-4 \
#     benchmarks/study_smollm2/train_agent.sh                      # stage 2: the shipped adapter + recovery turns
#                                                                  # (measured: no better, not shipped; docs/baselines.md)
#
# INIT is the model training starts from: the base (default) or a LoRA adapter (a run's output, a
# checkpoint, or the shipped agent), whose adapter is then trained on. RECOVERY is train sft's
# --recovery_rate: the probability that an expert decision is preceded by a failed action (no loss)
# and ALFWorld's "Nothing happens." (cotdiag.baselines.recovery). TRACES is build-data's --traces:
# "templated" (default) or "search-plan" (each go-to rationale states the expert's search plan:
# the classes that can hold the object and the next unvisited places of the room;
# cotdiag.traces.search_plan).
#
# SmolLM2-135M-Instruct (from its wheel) + LoRA r=16 on every linear layer, the base frozen in
# bfloat16, bfloat16 autocast on the CPU (benchmarks/results/cpu_training.json), on conversation
# examples (one per expert episode, docs/concepts.md "The decoding protocol") of ALFWorld train_id.
# Kill it at any time: the same command resumes from the last checkpoint (TRL/transformers'
# resume_from_checkpoint; checkpoints keep the optimizer state). Run from the repository root.
set -euo pipefail
OUT=${OUT:-runs/agent}
GAMES=${GAMES:-330}          # expert episodes of train_id (the shipped data holds 330 train_id games)
EPOCHS=${EPOCHS:-2}
FORMAT=${FORMAT:-cot}
K=${K:-0}
INIT=${INIT:-smollm2-135m}
RECOVERY=${RECOVERY:-0}
LR=${LR:-5e-4}
TRACES=${TRACES:-templated}
export ALFWORLD_DATA=${ALFWORLD_DATA:-../shared/data/alfworld} TOKENIZERS_PARALLELISM=false HF_HUB_OFFLINE=1
BIN=${BIN:-.venv/bin}
[ -x "$BIN/cotdiag" ] || BIN=$(dirname "$(command -v cotdiag)")
# bfloat16 autocast (and a bfloat16 LoRA base) only where the CPU has native bfloat16 (AVX512_BF16 or
# AMX) or on a GPU; elsewhere float32 (emulated bfloat16 is several times slower). BF16=true forces it.
BF16=${BF16:-$("$BIN/python" -c 'from cotdiag.baselines.precision import auto_bf16; print(str(auto_bf16(cpu=True)).lower())')}
MAX_STEPS=${MAX_STEPS:--1}   # > 0: stop after this many optimizer steps (the cosine schedule spans them)
mkdir -p "$OUT"
if [ ! -f "$OUT/data/cotdiag_protocol.json" ]; then
  "$BIN/cotdiag" build-data --env CoTDiag-ALFWorld-v0 --split train_id --episodes "$GAMES" \
    --traces "$TRACES" --out "$OUT/data"
fi
RUN="$OUT/sft_${FORMAT}_k${K}"
[ "$RECOVERY" = "0" ] || RUN="${RUN}_r${RECOVERY}"
echo "start $(date -u +%FT%TZ)" >> "$RUN.log"
"$BIN/cotdiag" train sft --data "$OUT/data" --model "$INIT" --output_dir "$RUN" \
  --response_format "$FORMAT" --action_mask_ratio "$K" --recovery_rate "$RECOVERY" --lora_r 16 --bf16 "$BF16" \
  --num_train_epochs "$EPOCHS" --max_steps "$MAX_STEPS" --learning_rate "$LR" --lr_scheduler_type cosine --warmup_steps 10 \
  --per_device_train_batch_size 2 --max_length 2048 --logging_steps 1 \
  --save_strategy steps --save_steps 20 --save_only_model false \
  --resume_from_checkpoint last 2>&1 | tee -a "$RUN.log"
echo "end $(date -u +%FT%TZ)" >> "$RUN.log"
