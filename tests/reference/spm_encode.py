#!/usr/bin/python3
"""The reference encoding for tests/sentencepiece.tests.cpp: Debian's python3-sentencepiece
(its own binding of the library, not lmlab's plugin) encodes a UTF-8 text file with a model.

usage: spm_encode.py MODEL TEXT_FILE
prints one JSON object: the model's size and special ids, and the text's ids, pieces and decoding.
"""
import json
import sys

import sentencepiece as spm


def main():
    model, text_file = sys.argv[1], sys.argv[2]
    sp = spm.SentencePieceProcessor(model_file=model)
    with open(text_file, encoding="utf-8", newline="") as f:
        text = f.read()
    ids = sp.encode(text)
    json.dump({
        "size": sp.get_piece_size(),
        "unk": sp.unk_id(), "bos": sp.bos_id(), "eos": sp.eos_id(), "pad": sp.pad_id(),
        "mask": sp.piece_to_id("<mask>"), "extra_id_0": sp.piece_to_id("<extra_id_0>"),
        "ids": ids,
        "pieces": [sp.id_to_piece(i) for i in ids],
        "decoded": sp.decode(ids),
    }, sys.stdout, ensure_ascii=False)


if __name__ == "__main__":
    main()
