"""A domain vocabulary: keep the tokens a dataset uses, drop every other embedding and lm_head row.

    record = reduce_vocabulary("runs/d2", Path("runs/d2-v8k"), "synthetic", VocabConfig(size=8000))
    record["kept"], record["coverage"], record["params_after"]      # also written to OUT/vocab.json

    reduce.py     the job: VocabConfig, which tokens to keep, reduce_vocabulary, its record, vmap
    tokenizer.py  rebuilding BPE/Unigram tokenizers with a subset of ids
    compare.py    checking a rebuilt tokenizer against the original on the domain's rows
    model.py      fewer embedding/lm_head rows and renumbered config ids
    summary.py    the table the command prints from the record
    draft.py      a draft's domain vocabulary (ids a split's targets use) for --draft-vocab

The output is a plain HF folder: rows are gathered, not changed, so over the kept tokens the
logits equal the original's bit for bit wherever the kernel is the same (see README: MKL's
one-row kernel sums a row differently depending on where it falls in the matrix and where
the matrix starts in memory, so batch-1 decoding steps can differ in the last bit; teacher
forcing and batches of 4 or more are bit-exact). `vocab.json` maps every new id to its old
id (`kept_ids`).
"""

from .model import model_required_ids, shrink_model
from .reduce import (VocabConfig, VocabJob, count_tokens, domain_tokens, prepare_vocabulary, reduce_vocabulary,
                     select_ids, write_vmap)
from .summary import summary_table
from .draft import draft_vocabulary, write_draft_vocab
from .compare import compare_tokenization
from .tokenizer import RebuildableTokenizer

__all__ = ["model_required_ids", "shrink_model", "VocabConfig", "VocabJob", "count_tokens", "domain_tokens",
           "prepare_vocabulary", "reduce_vocabulary", "select_ids", "summary_table", "write_vmap",
           "RebuildableTokenizer", "compare_tokenization", "draft_vocabulary", "write_draft_vocab"]
