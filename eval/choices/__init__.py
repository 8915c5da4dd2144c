"""The measurements that chose a dependency: the OCR engine and the PDF text extractor.

May import :mod:`eval.bench` (its SQuAD helpers).  Run from the repository root::

    python -m eval.choices.ocr engines     # tesseract against rapidocr (docs/ocr.md)
    python -m eval.choices.ocr answers     # qa's answers on scanned copies
    python -m eval.choices.pdf --pages 60  # PDF text extractors (docs/documents.md)
"""
