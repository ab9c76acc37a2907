"""The names of what trm writes, one home each (nothing here imports torch).

A dataset folder holds :data:`DATASET_META` beside its split files; a run folder holds
:data:`CHECKPOINT` (a folder: :data:`MODEL_FILE`, :data:`CONFIG_FILE` and the training
state) and :data:`METRICS`.
"""

DATASET_META = "dataset.json"
CHECKPOINT = "checkpoint"
METRICS = "metrics.jsonl"
MAX_METRICS_BYTES = 1 << 30  # read back at most (a million steps logged every step: ~300 MB)
MODEL_FILE = "model.safetensors"
CONFIG_FILE = "config.json"
TRAIN_TENSORS_FILE = "train_state.safetensors"
TRAIN_META_FILE = "train_state.json"
