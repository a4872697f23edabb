"""The demo's attention step: a tiny Transformer whose attention is logged while it trains."""

from __future__ import annotations

import numpy as np
from PIL import Image
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from keras_viz.demo import ATTENTION_FILENAME, ATTENTION_RUN, run_attention_demo


def test_attention_demo_logs_the_learned_alignment(tmp_path):
    said = []
    result = run_attention_demo(str(tmp_path), seed=0, say=said.append)
    assert result["alignment"] >= 0.9 and result["accuracy"] >= 0.9
    assert result["run_dir"] == str(tmp_path / ATTENTION_RUN)
    events = EventAccumulator(result["run_dir"], size_guidance={"tensors": 0})
    events.Reload()
    tags = set(events.Tags()["tensors"])
    assert {"attention/cross_attention", "attention/encoder_self_attention",
            "attention_alignment/cross_attention", "attention_entropy/cross_attention/head_0"} <= tags
    assert [e.step for e in events.Tensors("attention/cross_attention")] == [0, 1, 2]
    with Image.open(tmp_path / ATTENTION_FILENAME) as picture:
        assert np.asarray(picture.convert("RGB")).std() > 5
    assert any("Reversal:" in line for line in said)
