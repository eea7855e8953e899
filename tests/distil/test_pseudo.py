"""Pseudo-labels are the teacher's own generate() transcripts; they make a dataset folder the readers load."""

from __future__ import annotations

import torch

from asymprune.distil import (cached_pseudo_labels, decoder_prompt, encoder_outputs, greedy_tokens, load_whisper,
                              pseudo_label, training_pair, write_pseudo_dataset)
from asymprune.speech import input_features, load_speech_dataset


def test_prompt_is_what_generate_conditions_on(tiny_en_files, whisper_dir, clips):
    model, processor = load_whisper(whisper_dir)
    prompt = decoder_prompt(model.generation_config)
    assert prompt == [50257, 50362]  # <|startoftranscript|><|notimestamps|> for an English-only Whisper
    x = input_features([clips["test"][0].read()], processor.feature_extractor)
    with torch.inference_mode():
        out = model.generate(x, max_new_tokens=4, do_sample=False, num_beams=1, return_dict_in_generate=True,
                             output_logits=True)
        tokens = out.sequences[0, -4:].tolist()
        inputs, labels = training_pair(tokens, prompt, eos=50256)
        forced = model(input_features=x, decoder_input_ids=torch.tensor([inputs])).logits[0]
    # generate()'s raw logits for each new token equal the teacher-forced logits at the positions whose
    # label is that token: the training inputs are exactly what generate() conditions on.
    for step, logits in enumerate(out.logits):
        assert labels[len(prompt) - 1 + step] == tokens[step]
        assert torch.allclose(logits[0], forced[len(prompt) - 1 + step], atol=1e-4)


def test_pseudo_labels_equal_the_teachers_generate(whisper_dir, clips, tmp_path):
    teacher, processor = load_whisper(whisper_dir)
    rows = clips["train"][:4]
    cache = encoder_outputs(teacher, rows, extractor=processor.feature_extractor, cache_dir=tmp_path)
    labelled = pseudo_label(teacher, processor.tokenizer, rows, cache, batch_size=4, max_new_tokens=12)
    with torch.inference_mode():
        own = teacher.generate(input_features([r.read() for r in rows], processor.feature_extractor),
                               max_new_tokens=12, do_sample=False, num_beams=1)
    own = [[t for t in seq if t != 50256] for seq in own.tolist()]
    texts = [t.strip() for t in processor.tokenizer.batch_decode(own, skip_special_tokens=True)]
    kept = {r.id: r for r in labelled}
    for row, tokens, text in zip(rows, own, texts):
        if text:
            assert kept[row.id].info["teacher_tokens"] == tokens and kept[row.id].text == text
            assert kept[row.id].info["reference"] == row.text
        else:
            assert row.id not in kept
    assert greedy_tokens(teacher, cache, [r.id for r in rows], batch_size=4, max_new_tokens=12) == own
    first, path, computed = cached_pseudo_labels(teacher, processor.tokenizer, rows, cache, cache_dir=tmp_path,
                                                 max_new_tokens=12)
    second, path2, computed2 = cached_pseudo_labels(teacher, processor.tokenizer, rows, cache, cache_dir=tmp_path,
                                                    max_new_tokens=12)
    assert computed and not computed2 and path == path2 and first == second
    assert [r.info["teacher_tokens"] for r in first] == [r.info["teacher_tokens"] for r in labelled]


def test_dataset_folder_reads_back(clips, tmp_path):
    from dataclasses import replace
    rows = [replace(r, text=f"said {i}", info={**r.info, "teacher_tokens": [1, i], "reference": r.text})
            for i, r in enumerate(clips["train"][:3])]
    out = write_pseudo_dataset({"train": rows, "validation": clips["validation"], "test": clips["test"]},
                               tmp_path / "pseudo")
    back = load_speech_dataset(out)
    assert [r.id for r in back["train"]] == [r.id for r in rows]
    assert [r.text for r in back["train"]] == ["said 0", "said 1", "said 2"]
    assert back["train"][2].info["teacher_tokens"] == [1, 2]
    assert [r.text for r in back["test"]] == [r.text for r in clips["test"]]
