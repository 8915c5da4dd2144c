"""Choose the OCR engine by measuring, and check qa's answers on scanned copies (docs/ocr.md).

``python -m eval.choices.ocr engines``: a test set of pages printed by headless chromium (SQuAD
prose, a two-column page, a table), rasterised by poppler's ``pdftoppm`` at 150 and 300 dpi, and
degraded copies (tilted 2 degrees with noise at 300 dpi; a "photo": tilted 3 degrees, blurred, noised,
JPEG quality 60, 150 dpi).  Each engine reads every image; the character error rate (edit distance
over the truth's length, white space collapsed) is measured against the PDF's text layer, and
pages/s on this CPU.  Candidates: Debian's ``tesseract`` CLI and ``rapidocr-onnxruntime``
(run in the virtual environment given by ``--rapidocr-python``, network cut off with
``unshare -n`` so that a model download would fail).

``python -m eval.choices.ocr answers``: SQuAD paragraphs printed into multi-page text-layer PDFs
(two paragraphs a page, so the page of each answer is known), and scanned copies of them
(rasterised at 300 dpi, tilted and noised, saved as image-only PDFs by Pillow).  Both sets are
indexed by :func:`qa.build_index` in the same run and asked the same questions: the accuracy of
each (a gold answer inside the answer's text), and how many right answers cite the right page:
the page that holds the cited sentence in the text-layer original (found by its 4-word runs),
and, stricter, the page of the question's own paragraph (an answer may rightly come from another).

Both write JSON to ``--out`` (default: print only).  Needs chromium and poppler-utils.
"""

from __future__ import annotations

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]

import argparse  # noqa: E402
import html  # noqa: E402
import json  # noqa: E402
import logging  # noqa: E402
import re  # noqa: E402
import shutil  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

from tests import sample_documents as documents  # noqa: E402

logger = logging.getLogger("ocr_compare")

RAPID_SCRIPT = r"""
import json, sys, time
from rapidocr_onnxruntime import RapidOCR
engine = RapidOCR()
out = []
for path in sys.argv[1:]:
    start = time.perf_counter()
    result, _ = engine(path)
    seconds = time.perf_counter() - start
    lines = [r[1] for r in (result or [])]
    out.append({"path": path, "text": "\n".join(lines), "seconds": seconds})
print(json.dumps(out))
"""


def cer(hypothesis: str, truth: str) -> float:
    """Character error rate: Levenshtein distance over the truth's length, white space collapsed."""
    a = " ".join(hypothesis.split())
    b = " ".join(truth.split())
    if not b:
        return float(bool(a))
    bb = np.frombuffer(b.encode("utf-32-le"), dtype=np.uint32)
    row = np.arange(len(bb) + 1, dtype=np.int64)
    offsets = np.arange(len(bb) + 1, dtype=np.int64)
    for i, ch in enumerate(a, start=1):
        code = ord(ch)
        new = np.empty_like(row)
        new[0] = i
        new[1:] = np.minimum(row[1:] + 1, row[:-1] + (bb != code))
        row = np.minimum.accumulate(new - offsets) + offsets  # insertions along the row
    return float(row[-1]) / len(bb)


def _pdftoppm() -> str:
    found = shutil.which("pdftoppm")
    if found is None:
        raise SystemExit("pdftoppm is missing: apt-get install poppler-utils")
    return found


def rasterise(pdf: Path, out_prefix: Path, dpi: int) -> list[Path]:
    """Each page of ``pdf`` as a grey PNG at ``dpi`` (``pdftoppm``)."""
    subprocess.run([_pdftoppm(), "-r", str(dpi), "-gray", "-png", str(pdf), str(out_prefix)], check=True)
    return sorted(out_prefix.parent.glob(out_prefix.name + "-*.png"))


def degrade(image: object, angle: float, noise: float, blur: float = 0.0, seed: int = 0) -> object:
    """A tilted, blurred and noised copy of a grey page image (Pillow and numpy)."""
    from PIL import Image, ImageFilter

    img = image.convert("L").rotate(angle, resample=Image.BICUBIC, expand=True, fillcolor=255)  # type: ignore[attr-defined]
    if blur:
        img = img.filter(ImageFilter.GaussianBlur(blur))
    rng = np.random.default_rng(seed)
    pixels = np.asarray(img, dtype=np.float32) + rng.normal(0.0, noise, size=(img.height, img.width))
    specks = rng.random(pixels.shape) < 0.002
    pixels[specks] = 0.0
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))


def test_pages(paragraphs: list[str]) -> dict[str, str]:
    """HTML of the three kinds of test page: prose, two columns, a table."""
    prose = "".join(f"<p>{html.escape(p)}</p>" for p in paragraphs[:3])
    columns = (
        '<div style="column-count:2;column-gap:2.5em">'
        + "".join(f"<p>{html.escape(p)}</p>" for p in paragraphs[3:6])
        + "</div>"
    )
    rows = "".join(
        f"<tr><td>{name}</td><td>{2019 + i}</td><td>{(i + 3) * 1234:,}</td><td>{place}</td></tr>"
        for i, (name, place) in enumerate(
            [("Harbour dues", "Lisbon"), ("Crane hours", "Porto"), ("Containers", "Antwerp"), ("Ferries", "Rotterdam"),
             ("Cruise ships", "Hamburg"), ("Tugboats", "Genoa"), ("Pilots", "Valencia"), ("Dredging", "Marseille")]
        )
    )
    table = (
        f"<p>{html.escape(paragraphs[6])}</p><table border='1' cellpadding='6' style='border-collapse:collapse'>"
        f"<tr><th>Item</th><th>Year</th><th>Amount</th><th>Port</th></tr>{rows}</table>"
    )
    return {"prose": prose, "two-column": columns, "table": table}


def make_test_set(work: Path, paragraphs: list[str]) -> list[dict]:
    """The engines' test set: one entry per image (name, path, truth, dpi)."""
    import pypdf
    from PIL import Image

    items = []
    for kind, body in test_pages(paragraphs).items():
        pdf = documents.print_pdf(documents.pages_html(kind, (body,)), work / f"{kind}.pdf")
        truth = pypdf.PdfReader(str(pdf)).pages[0].extract_text()
        for dpi in (150, 300):
            (png,) = rasterise(pdf, work / f"{kind}-{dpi}", dpi)[:1]
            items.append({"name": f"{kind} {dpi} dpi", "path": str(png), "truth": truth, "dpi": dpi})
            if dpi == 300:
                tilted = work / f"{kind}-tilted.png"
                degrade(Image.open(png), angle=2.0, noise=18.0, seed=1).save(tilted, dpi=(dpi, dpi))  # type: ignore[attr-defined]
                items.append({"name": f"{kind} 300 dpi tilted 2° + noise", "path": str(tilted), "truth": truth, "dpi": 300})
            else:
                photo = work / f"{kind}-photo.jpg"
                degrade(Image.open(png), angle=-3.0, noise=12.0, blur=0.6, seed=2).save(photo, quality=60, dpi=(dpi, dpi))  # type: ignore[attr-defined]
                items.append({"name": f"{kind} 150 dpi photo (3°, blur, JPEG 60)", "path": str(photo), "truth": truth, "dpi": 150})
    return items


def run_tesseract(items: list[dict]) -> list[dict]:
    """The bare tesseract CLI on each image (one process per image and one thread, as qa runs it)."""
    from qa.documents.ocr import engine_env

    out = []
    for item in items:
        start = time.perf_counter()
        done = subprocess.run(
            ["tesseract", item["path"], "stdout", "-l", "eng", "--psm", "3", "--dpi", str(item["dpi"])],
            capture_output=True, text=True, check=True, env=engine_env(),
        )
        out.append({"text": done.stdout, "seconds": time.perf_counter() - start})
    return out


def run_qa(items: list[dict]) -> list[dict]:
    """qa's reading of each image file (:func:`qa.documents.ingest.read_file`: tesseract after straightening, then the cleaning)."""
    from qa.documents.ingest import read_file
    from qa.errors import IngestError

    out = []
    for item in items:
        start = time.perf_counter()
        try:
            text = read_file(Path(item["path"]), Path(item["path"]).name).text
        except IngestError as exc:
            logger.warning("qa skipped %s: %s", item["path"], exc)
            text = ""
        out.append({"text": text, "seconds": time.perf_counter() - start})
    return out


def run_rapidocr(items: list[dict], python: str) -> list[dict]:
    """rapidocr-onnxruntime in its own environment, without network (``unshare -n``); models load once, untimed."""
    command = [python, "-c", RAPID_SCRIPT, items[0]["path"], *(i["path"] for i in items)]
    if shutil.which("unshare"):
        command = ["unshare", "-n", *command]
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    return json.loads(done.stdout)[1:]  # the first image only warms the engine up


def _footprint() -> dict:
    sizes = {}
    packages = ["tesseract-ocr", "tesseract-ocr-eng", "tesseract-ocr-osd", "libtesseract5", "liblept5", "libarchive13"]
    done = subprocess.run(["dpkg-query", "-W", "-f=${Package} ${Installed-Size}\n", *packages], capture_output=True, text=True)
    for line in done.stdout.splitlines():
        name, _, kib = line.partition(" ")
        if kib.strip():
            sizes[name] = int(kib)
    return {"tesseract_debian_mb": round(sum(sizes.values()) / 1024, 1), "tesseract_packages_kib": sizes}


def compare_engines(work: Path, rapid_python: str | None) -> dict:
    """CER and pages/s of each engine on the test set (see the module docstring)."""
    from eval.bench.common import squad_paragraphs

    items = make_test_set(work, squad_paragraphs())
    engines = {"tesseract 5.3 (--psm 3)": run_tesseract(items), "qa (tesseract 5.3 after straightening, cleaned)": run_qa(items)}
    if rapid_python:
        engines["rapidocr-onnxruntime 1.4.4"] = run_rapidocr(items, rapid_python)
    table = {}
    for engine, results in engines.items():
        rows = {item["name"]: round(cer(r["text"], item["truth"]), 4) for item, r in zip(items, results)}
        seconds = sum(r["seconds"] for r in results)
        by_dpi = {dpi: [r["seconds"] for i, r in zip(items, results) if i["dpi"] == dpi] for dpi in (150, 300)}
        table[engine] = {
            "cer": rows,
            "mean_cer": round(float(np.mean(list(rows.values()))), 4),
            "pages_per_s": round(len(items) / seconds, 2),
            "pages_per_s_300dpi": round(len(by_dpi[300]) / sum(by_dpi[300]), 2),
            "pages_per_s_150dpi": round(len(by_dpi[150]) / sum(by_dpi[150]), 2),
        }
    return {"images": len(items), "engines": table, "footprint": _footprint()}


# ---------------------------------------------------------------- answers on scanned copies

PARAGRAPHS_PER_PAGE = 2


def scan_pdf(pdf: Path, out: Path, dpi: int = 300, seed: int = 0) -> Path:
    """An image-only copy of ``pdf``: each page rasterised, tilted 1.5 degrees and noised, saved by Pillow."""
    from PIL import Image

    with tempfile.TemporaryDirectory(prefix="qa-scan-") as tmp:
        pages = rasterise(pdf, Path(tmp) / "page", dpi)
        images = [degrade(Image.open(p), angle=(1.5 if i % 2 else -1.0), noise=14.0, seed=seed + i) for i, p in enumerate(pages)]
    images[0].save(out, save_all=True, append_images=images[1:], resolution=float(dpi))  # type: ignore[attr-defined]
    return out


def _normal(text: str) -> str:
    return " ".join(re.sub(r"[^\w\s]", " ", text.casefold()).split())


def make_corpus(work: Path, files: int, pages: int) -> tuple[list[Path], list[Path], list[dict]]:
    """Text-layer PDFs of SQuAD paragraphs, their scanned copies, and the answerable questions with their page."""
    from eval.bench.common import squad

    data = squad()["data"]
    paragraphs = [p for article in data for p in article["paragraphs"]]
    originals, scans, questions = [], [], []
    for f in range(files):
        chunk = paragraphs[f * pages * PARAGRAPHS_PER_PAGE : (f + 1) * pages * PARAGRAPHS_PER_PAGE]
        bodies = tuple(
            "".join(f"<p>{html.escape(p['context'])}</p>" for p in chunk[i : i + PARAGRAPHS_PER_PAGE])
            for i in range(0, len(chunk), PARAGRAPHS_PER_PAGE)
        )
        pdf = documents.print_pdf(documents.pages_html(f"Report {f + 1}", bodies), work / "text" / f"report-{f + 1}.pdf")
        originals.append(pdf)
        scans.append(scan_pdf(pdf, work / "scan" / f"report-{f + 1}.pdf", seed=10 * f))
        for n, p in enumerate(chunk):
            for q in p["qas"]:
                answers = [a["text"] for a in q.get("answers", [])]
                if answers and not q.get("is_impossible"):
                    questions.append({"question": q["question"], "answers": answers, "doc": pdf.name, "page": n // PARAGRAPHS_PER_PAGE + 1})
    return originals, scans, questions


def _shingles(text: str, n: int = 4) -> set[tuple[str, ...]]:
    words = _normal(text).split()
    return {tuple(words[i : i + n]) for i in range(max(1, len(words) - n + 1))}


def true_page(original: object, quote: str) -> int | None:
    """The page of the text-layer original that holds ``quote`` (read from a scan: the page sharing most of its 4-word runs)."""
    starts = list(original.page_starts) + [len(original.text)]  # type: ignore[attr-defined]
    wanted = _shingles(quote)
    overlap = [len(wanted & _shingles(original.text[starts[i] : starts[i + 1]])) for i in range(len(starts) - 1)]  # type: ignore[attr-defined]
    best = max(range(len(overlap)), key=overlap.__getitem__)
    return best + 1 if overlap[best] else None


def _ask_all(index: Path, questions: list[dict], originals: object) -> dict:
    """Ask every question: right answers (a gold answer in the text), and how many of them cite the page that
    holds their sentence in the text-layer original (``page_exact``) and the gold paragraph's page (``gold_page``)."""
    import qa

    bot = qa.load(index)
    right = gold_page = page_exact = 0
    wrong_pages = []
    for item in questions:
        answer = bot.ask(item["question"])
        text = _normal(answer.text)
        if answer.abstained or not any(_normal(a) and _normal(a) in text for a in item["answers"]):
            continue
        right += 1
        first = answer.citations[0]
        gold_page += first.doc_id == item["doc"] and first.page == item["page"]
        cited = [(c.page, true_page(originals.document(c.doc_id), c.quote)) for c in answer.citations]  # type: ignore[attr-defined]
        if all(page == truth for page, truth in cited):
            page_exact += 1
        else:
            wrong_pages.append({"question": item["question"], "cited_vs_true": cited})
    return {
        "questions": len(questions), "right": right, "accuracy": round(right / len(questions), 4),
        "right_citing_the_true_page": page_exact, "right_citing_the_gold_paragraph_page": gold_page, "page_errors": wrong_pages,
    }


def compare_answers(work: Path, files: int, pages: int) -> dict:
    """Accuracy on the text-layer PDFs and on their scanned copies, in the same run."""
    import qa

    (work / "text").mkdir(parents=True, exist_ok=True)
    (work / "scan").mkdir(parents=True, exist_ok=True)
    originals, scans, questions = make_corpus(work, files, pages)
    start = time.perf_counter()
    qa.build_index(originals, work / "index-text")
    text_s = time.perf_counter() - start
    start = time.perf_counter()
    built = qa.build_index(scans, work / "index-scan")
    scan_s = time.perf_counter() - start
    originals_bot = qa.load(work / "index-text")
    text, scan = _ask_all(work / "index-text", questions, originals_bot), _ask_all(work / "index-scan", questions, originals_bot)
    return {
        "files": files, "pages": files * pages, "skipped_scans": [s.reason for s in built.skipped],
        "build_s": {"text": round(text_s, 1), "scan": round(scan_s, 1)},
        "text": text, "scan": scan, "ratio": round(scan["accuracy"] / max(text["accuracy"], 1e-9), 3),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("what", choices=["engines", "answers"])
    parser.add_argument("--rapidocr-python", help="python of a venv with rapidocr-onnxruntime installed")
    parser.add_argument("--files", type=int, default=3)
    parser.add_argument("--pages", type=int, default=3)
    parser.add_argument("--work", type=Path, help="keep the files here (default: a temporary folder)")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    with tempfile.TemporaryDirectory(prefix="qa-ocr-") as tmp:
        work = args.work or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        if args.what == "engines":
            result = compare_engines(work, args.rapidocr_python)
        else:
            result = compare_answers(work, args.files, args.pages)
    text = json.dumps(result, indent=2, ensure_ascii=False)
    if args.out:
        args.out.write_text(text + "\n", encoding="utf-8")
    print(text)  # noqa: T201 - a command-line report
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
