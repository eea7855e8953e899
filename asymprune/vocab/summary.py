"""The table `asymprune vocab` prints from its record (OUT/vocab.json).

    console.print(summary_table(reduce_vocabulary(...)))
"""

from __future__ import annotations


def summary_table(record: dict):
    """A rich table of what `reduce_vocabulary` kept, its coverage and the parameters saved."""
    from rich.table import Table

    def millions(n: int) -> str:
        return f"{n / 1e6:,.2f}M"

    table = Table("", "value", title=f"vocabulary of {record['source']} on {record['dataset']}:{record['split']}",
                  title_justify="left")
    table.add_row("tokens kept", f"{record['kept']:,} of {record['original_tokens']:,} "
                                 f"({record['original_rows']:,} embedding rows before)")
    table.add_row("special tokens", f"{record['special']:,}")
    if record.get("byte_tokens"):
        table.add_row("byte tokens (any text encodes)", f"{record['byte_tokens']:,}")
    table.add_row(f"used by {record['split']}", f"{record['used']:,} ({record['used_kept']:,} kept)")
    cover = record.get("coverage")
    if cover:
        pct = 100 * cover["rows_changed"] / max(cover["rows"], 1)
        table.add_row(f"{cover['split']}: rows tokenized differently", f"{cover['rows_changed']:,} of "
                                                                      f"{cover['rows']:,} ({pct:.1f}%)")
        table.add_row(f"{cover['split']}: tokens outside the kept set", f"{cover['tokens_outside']:,} of "
                                                                       f"{cover['tokens']:,}")
        table.add_row(f"{cover['split']}: unknown tokens", f"{cover['unk_before']:,} → {cover['unk_after']:,}")
        if cover.get("chars_dropped"):
            table.add_row(f"{cover['split']}: characters dropped (no token, no <unk>)", f"{cover['chars_dropped']:,}")
    before, after = record["params_before"], record["params_after"]
    removed = 100 * (1 - after["total"] / before["total"])
    table.add_row("parameters", f"{millions(before['total'])} → {millions(after['total'])} ({removed:.1f}% removed)")
    table.add_row("embeddings + lm_head + norms", f"{millions(before['other'])} → {millions(after['other'])}")
    return table
