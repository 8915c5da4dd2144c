"""Real documents for the tests, made by real tools: PDFs printed by chromium, Word files written by python-docx.

No PDF or DOCX bytes are written by hand: a "scanned" PDF is a chromium-printed
page holding only a canvas drawing, an encrypted one is a printed PDF encrypted
by pypdf's writer, a truncated one is the first part of a printed file's bytes,
and a zip bomb is a ZIP written with :mod:`zipfile`.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import zipfile
from pathlib import Path

CHROMIUM_NAMES = ("chromium", "chromium-browser")
PAGE = '<div style="page-break-after: always">{}</div>'

REPORT_PAGES = (
    "<h1>Harbour Report 2031</h1><p>The Lisbon harbour handled four million containers in 2030. "
    "Most of them came from Rotterdam and Antwerp. The port authority expects more traffic next year.</p>",
    "<h2>The north pier</h2><p>The new lighthouse on the north pier was painted green in March 2031. "
    "Its lamp can be seen from thirty kilometres away. Fishermen asked for the green colour.</p>",
    "<h2>People</h2><p>The harbour master, Ana Ribeiro, retires in the summer of 2032. "
    "She has run the port for nineteen years. Her deputy will take over the office.</p>",
)
REPORT_V2_PAGES = (
    "<h1>Harbour Report 2031</h1><p>The Lisbon harbour handled five million containers in 2030. "
    "The second edition of this report corrects the count of the first.</p>",
    "<h2>The south dock</h2><p>The old crane on the south dock was taken down in April 2031. "
    "A museum in Porto bought its cabin.</p>",
)
LAYOUT_PAGES = (
    '<div style="column-count:2;column-gap:3em"><p>Alpha one starts the left column here. Alpha two follows it. '
    "Alpha three is long enough to wrap over several lines in a narrow column of text. Alpha four ends it.</p>"
    '<p style="break-before:column">Beta one starts the right column. Beta two follows. Beta three wraps over lines '
    "as well, because the column is narrow. Beta four ends the right column.</p></div>",
    '<p style="width:4.5em;font-size:14pt">Our cyber&shy;security partner&shy;ships are long-standing.</p>'
    "<p>The destru&shy;ctive storm of 2030 passed with&shy;out harm.</p>",
)


def chromium() -> str | None:
    """Path of a chromium executable, or None."""
    for name in CHROMIUM_NAMES:
        found = shutil.which(name)
        if found:
            return found
    return None


def _chromium(html: str, out: Path, options: list[str], browser: str | None, what: str) -> Path:
    """Run headless chromium on an HTML page with ``options`` that write ``out``.

    Raises:
        RuntimeError: chromium is missing or did not write ``out``.
    """
    browser = browser or chromium()
    if browser is None:
        raise RuntimeError("chromium is not installed (`make chromium`)")
    with tempfile.TemporaryDirectory(prefix="qa-chromium-") as tmp:
        page = Path(tmp) / "page.html"
        page.write_text(html, encoding="utf-8")
        command = [
            browser, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", f"--user-data-dir={tmp}/profile", *options, page.as_uri(),
        ]
        done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    if not out.is_file() or out.stat().st_size == 0:
        raise RuntimeError(f"chromium did not {what} {out} (exit {done.returncode}): {done.stderr[-500:]}")
    return out


def print_pdf(html: str, out: Path, header_footer: bool = False, browser: str | None = None) -> Path:
    """Print an HTML page to ``out`` with headless chromium (its own header and footer when ``header_footer``).

    Raises:
        RuntimeError: chromium is missing or did not write the PDF.
    """
    options = [f"--print-to-pdf={out}"] + ([] if header_footer else ["--no-pdf-header-footer"])
    return _chromium(html, out, options, browser, "print")


def pages_html(title: str | None, pages: tuple[str, ...]) -> str:
    """An HTML document with one printed page per entry (without a ``<title>`` for None: chromium then
    records the file name as the PDF's title)."""
    body = "".join(PAGE.format(p) for p in pages)
    head = "" if title is None else f"<title>{title}</title>"
    return f"<!doctype html><html lang='en'><head><meta charset='utf-8'>{head}</head><body style='font-family:serif'>{body}</body></html>"


def scanned_html() -> str:
    """A page holding only a canvas drawing of words: printed, it has no text layer."""
    return (
        "<!doctype html><html><head><title>scan</title></head><body><canvas id='c' width='700' height='400'></canvas><script>"
        "const x = document.getElementById('c').getContext('2d'); x.fillStyle = '#eee'; x.fillRect(0, 0, 700, 400);"
        "x.fillStyle = '#111'; x.font = '28px serif'; x.fillText('The harbour opens in May 2027.', 30, 80);"
        "</script></body></html>"
    )


def encrypt_pdf(source: Path, out: Path, user_password: str = "secret", owner_password: str | None = None) -> Path:
    """A copy of a PDF encrypted (AES-256) by pypdf's writer."""
    import pypdf

    writer = pypdf.PdfWriter(clone_from=str(source))
    writer.encrypt(user_password, owner_password=owner_password, algorithm="AES-256")
    with out.open("wb") as handle:
        writer.write(handle)
    return out


def truncate(source: Path, out: Path, share: float = 0.6) -> Path:
    """The first ``share`` of a file's bytes."""
    data = source.read_bytes()
    out.write_bytes(data[: int(len(data) * share)])
    return out


def write_docx(
    out: Path,
    paragraphs: tuple[str, ...] = (),
    heading: str | None = None,
    table: tuple[tuple[str, ...], ...] = (),
    core_title: str | None = None,
) -> Path:
    """A Word document written by python-docx: an optional heading, paragraphs, then an optional table."""
    import docx

    document = docx.Document()
    if core_title is not None:
        document.core_properties.title = core_title
    if heading is not None:
        document.add_heading(heading, level=1)
    for text in paragraphs:
        document.add_paragraph(text)
    if table:
        grid = document.add_table(rows=len(table), cols=len(table[0]))
        for r, row in enumerate(table):
            for c, cell in enumerate(row):
                grid.cell(r, c).text = cell
    document.save(str(out))
    return out


def zip_bomb(out: Path, inflated_mb: int = 300) -> Path:
    """A ZIP named like a Word file whose ``word/document.xml`` inflates to ``inflated_mb`` MB of zeros."""
    chunk = b"\0" * 2**20
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        archive.writestr("[Content_Types].xml", "<?xml version='1.0'?><Types/>")
        with archive.open("word/document.xml", "w", force_zip64=True) as member:
            for _ in range(inflated_mb):
                member.write(chunk)
    return out


# ---------------------------------------------------------------------- scans (OCR tests)

SCAN_PAGES = (
    "<h1>Harbour Report 2031</h1><p>The Lisbon harbour handled four million containers in 2030. "
    "Most of them came from Rotterdam and Antwerp.</p>",
    "<h2>The north pier</h2><p>The new lighthouse on the north pier was painted green in March 2031. "
    "Its lamp can be seen from thirty kilometres away.</p>",
    "<h2>People</h2><p>The harbour master, Ana Ribeiro, retires in the summer of 2032. "
    "She has run the port for nineteen years.</p>",
)


def screenshot(html: str, out: Path, width: int = 850, height: int = 1100, scale: float = 2.0, browser: str | None = None) -> Path:
    """A PNG of an HTML page rendered by headless chromium (``scale`` 2: about 190 dpi for a 96-dpi CSS page).

    Raises:
        RuntimeError: chromium is missing or did not write the image.
    """
    options = ["--hide-scrollbars", f"--window-size={width},{height}", f"--force-device-scale-factor={scale}", f"--screenshot={out}"]
    return _chromium(html, out, options, browser, "write")


def page_html(body: str) -> str:
    """One white page of serif text, as a scanner would see it."""
    return f"<!doctype html><html lang='en'><head><meta charset='utf-8'></head><body style='font-family:serif;font-size:17px;margin:60px;background:#fff'>{body}</body></html>"


def degrade(
    source: Path, out: Path, angle: float = 2.0, noise: float = 14.0, blur: float = 0.0, quality: int | None = None, seed: int = 0,
    shade: float = 0.0,
) -> Path:
    """A tilted, noised (and optionally blurred, shaded, JPEG-compressed) grey copy of a page image: a scan or a photo.

    ``shade``: the page darkens towards its top left corner, to ``1 - shade`` of its brightness (a photo's uneven light).
    """
    import numpy as np
    from PIL import Image, ImageFilter

    original = Image.open(source)
    dpi = original.info.get("dpi")
    img = original.convert("L").rotate(angle, resample=Image.BICUBIC, expand=True, fillcolor=255)
    if blur:
        img = img.filter(ImageFilter.GaussianBlur(blur))
    rng = np.random.default_rng(seed)
    pixels = np.asarray(img, dtype=np.float32)
    if shade:
        rows, cols = np.mgrid[0 : img.height, 0 : img.width]
        pixels = pixels * (1.0 - shade + shade * (cols / img.width + rows / img.height) / 2.0)
    pixels = pixels + rng.normal(0.0, noise, size=(img.height, img.width))
    result = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))
    result.save(out, **({"quality": quality} if quality else {}), **({"dpi": dpi} if dpi else {}))
    return out


def image_pdf(images: list[Path], out: Path, dpi: float = 192.0) -> Path:
    """An image-only PDF (a scanned document): one page per image, written by Pillow."""
    from PIL import Image

    pages = [Image.open(p).convert("L") for p in images]
    pages[0].save(out, save_all=True, append_images=pages[1:], resolution=dpi)
    return out


def multipage_tiff(images: list[Path], out: Path, dpi: int = 192) -> Path:
    """A multi-page TIFF (a fax or scanner's output), one frame per image, written by Pillow."""
    from PIL import Image

    pages = [Image.open(p).convert("L") for p in images]
    pages[0].save(out, save_all=True, append_images=pages[1:], compression="tiff_deflate", dpi=(dpi, dpi))
    return out


def join_pdfs(parts: list[Path], out: Path) -> Path:
    """The pages of several PDFs in one (a mixed PDF: text pages and scanned ones), by pypdf's writer."""
    import pypdf

    writer = pypdf.PdfWriter()
    for part in parts:
        writer.append(str(part))
    with out.open("wb") as handle:
        writer.write(handle)
    return out


def png_bomb(out: Path, side: int = 30_000) -> Path:
    """A decompression bomb: a valid, white, 1-bit PNG of ``side`` × ``side`` pixels (112 MB decoded for 30,000)
    whose file is a few hundred kB (written row by row with zlib, never held in memory)."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    packer = zlib.compressobj(9)
    row = b"\x00" + b"\xff" * ((side + 7) // 8)
    body = b"".join(packer.compress(row * 1000) for _ in range(side // 1000)) + packer.compress(row * (side % 1000)) + packer.flush()
    out.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)) + chunk(b"IDAT", body) + chunk(b"IEND", b""))
    return out


def pdf_image_bomb(out: Path, side: int = 30_000) -> Path:
    """A decompression bomb inside a PDF: one page showing a white 1-bit image of ``side`` × ``side`` pixels
    (Flate-compressed, a few hundred kB), written by pypdf's writer."""
    import zlib

    import pypdf
    from pypdf.generic import DictionaryObject, NameObject, NumberObject, StreamObject

    packer = zlib.compressobj(9)
    row = b"\xff" * ((side + 7) // 8)
    data = b"".join(packer.compress(row * 1000) for _ in range(side // 1000)) + packer.compress(row * (side % 1000)) + packer.flush()
    writer = pypdf.PdfWriter()
    page = writer.add_blank_page(612, 792)
    image = StreamObject()
    image._data = data  # already Flate-encoded, as /Filter says
    image.update({
        NameObject("/Type"): NameObject("/XObject"), NameObject("/Subtype"): NameObject("/Image"),
        NameObject("/Width"): NumberObject(side), NameObject("/Height"): NumberObject(side),
        NameObject("/ColorSpace"): NameObject("/DeviceGray"), NameObject("/BitsPerComponent"): NumberObject(1),
        NameObject("/Filter"): NameObject("/FlateDecode"),
    })
    content = StreamObject()
    content._data = b"q 612 0 0 792 0 0 cm /Im0 Do Q"
    page[NameObject("/Resources")] = DictionaryObject({NameObject("/XObject"): DictionaryObject({NameObject("/Im0"): writer._add_object(image)})})
    page[NameObject("/Contents")] = writer._add_object(content)
    with out.open("wb") as handle:
        writer.write(handle)
    return out


# ---------------------------------------------------------------------- office documents (Markdown, Word tables)

REMOTE_WORK_MD = """# Northwind Logistics Remote Work Policy

<!-- Draft reviewed by HR on 2 March 2024; remove this note before publishing. -->

*Effective 1 April 2024.* This policy applies to all **permanent employees** of Northwind Logistics.
Contractors follow the terms of their own contracts.

![Northwind logo](img/logo.png)

## Eligibility

Employees may work remotely for up to **three days a week** once they have completed
their _probation period_ of six months. Warehouse and fleet staff are not eligible,
because their work must be done on site.

## Equipment

Northwind provides a laptop, a headset and a second monitor; requests go through the
[IT service desk](https://it.northwind.example/desk).
Employees pay for their own home internet, but may claim **25 euros per month** towards it.

## Security

- Lock your screen whenever you leave your desk.
- Connect through the company VPN before opening internal systems.
- Report a lost laptop to the security office within **24 hours**.

To connect to the VPN, run:

```bash
nw-vpn connect --profile remote
```

## Requesting remote work

Send the request form to your line manager at least two weeks before the first remote day.
Questions about this policy go to [Maria Jensen](mailto:maria.jensen@northwind.example), the HR director.
"""

BREWMASTER_MD = """# BrewMaster 3000 Quick Start Guide

Thank you for buying the **BrewMaster 3000**. Read the [safety notes](#safety) before first use.

## Before first use

1. Rinse the water tank with warm water.
2. Fill the tank up to the *MAX* line.
3. Run two empty cycles to flush the pipes.

## Daily cleaning

Empty the drip tray every day. Descale the machine every __three months__ with BrewMaster descaling liquid.

## Troubleshooting

| Problem | Cause | Fix |
|---|---|---|
| Coffee is cold | The cups are cold | Preheat the cups with hot water |
| Red light blinks | The water tank is empty | Fill the water tank |
| Pump is loud | Air in the pipes | Run an empty cycle |

## Warranty

The machine has a **two-year warranty**. Register it at <https://brewmaster.example/register> within 30 days of purchase.
"""

IT_CONTACTS_TABLE = (
    ("Team", "Extension", "Email"),
    ("IT desk", "4400", "desk@northwind.example"),
    ("Security office", "4410", "security@northwind.example"),
    ("Facilities", "4500", "facilities@northwind.example"),
    ("Payroll", "4620", "payroll@northwind.example"),
)
BRANCHES_TABLE = (
    ("City", "Address", "Manager", "Opening hours"),
    ("Hamburg", "Speicherstadt 12", "Jonas Weber", "8:00 to 17:00"),
    ("Rotterdam", "Maasboulevard 40", "Eva de Vries", "7:30 to 16:30"),
    ("Antwerp", "Kaaistraat 9", "Lotte Peeters", "9:00 to 18:00"),
)

FERRY_TABLE = (
    ("Route", "Departure", "Crossing time"),
    ("Den Helder to Texel", "every hour from 6:30", "20 minutes"),
    ("Harlingen to Vlieland", "three times a day", "90 minutes"),
    ("Holwerd to Ameland", "every two hours from 7:00", "45 minutes"),
)
FERRY_HTML = (
    "<!doctype html><html lang='en'><head><meta charset='utf-8'><title>Wadden ferry timetable</title></head><body>"
    "<nav><a href='/'>Home</a> <a href='/tickets'>Tickets</a></nav><article><h1>Wadden ferry timetable</h1>"
    "<p>The Wadden ferries run all year, and extra boats sail in July and August when the islands are busiest.</p>"
    "<table><tr>" + "".join(f"<th>{c}</th>" for c in FERRY_TABLE[0]) + "</tr>"
    + "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in FERRY_TABLE[1:])
    + "</table><p>Bicycles travel free on every crossing, but cars must be booked at least a day in advance.</p>"
    "</article><footer>Wadden Ferries Ltd</footer></body></html>"
)

OFFICE_QUESTIONS = (
    # (question, a phrase of the right answer sentence; None: the documents do not say)
    ("Who is the CEO?", None),
    ("Who is the CEO of Northwind Logistics?", None),
    ("How many days a week can employees work remotely?", "three days a week"),
    ("How long is the probation period?", "six months"),
    ("Who is not eligible for remote work?", "Warehouse and fleet staff"),
    ("What equipment does Northwind provide?", "a laptop, a headset"),
    ("How much can employees claim for their home internet?", "25 euros"),
    ("When must a lost laptop be reported?", "24 hours"),
    ("Who is the HR director?", "Maria Jensen"),
    ("When does the remote work policy take effect?", "1 April 2024"),
    ("How do I request remote work?", "request form"),
    ("How often should the BrewMaster be descaled?", "three months"),
    ("How long is the warranty of the BrewMaster 3000?", "two-year"),
    ("What should I do when the red light blinks?", "Fill the water tank"),
    ("Why is my coffee cold?", "cups are cold"),
    ("What is the fix for a loud pump?", "empty cycle"),
    ("What should I do before the first use?", "Rinse the water tank"),
    ("What is the extension of the IT desk?", "4400"),
    ("Which team has extension 4500?", "Facilities"),
    ("What is the email address of the security office?", "security@northwind.example"),
    ("How do I reach payroll?", "4620"),
    ("Who manages the Hamburg office?", "Jonas Weber"),
    ("What is the address of the Rotterdam office?", "Maasboulevard 40"),
    ("When is the Antwerp office open?", "9:00 to 18:00"),
    ("When does the ferry to Texel leave?", "every hour from 6:30"),
    ("How long is the crossing to Vlieland?", "90 minutes"),
    ("Do bicycles have to pay on the ferry?", "Bicycles travel free"),
    ("What is the team extension?", None),
    ("Who is the manager of the office?", None),
    ("What is the crossing time of the route?", None),
)
"""Questions on :func:`write_office_set`'s documents."""


def write_office_set(folder: Path) -> list[Path]:
    """A remote-work policy and a machine manual in Markdown, an IT contact list and a branch directory in Word (tables),
    a ferry timetable in HTML (a table)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "ferry-timetable.html").write_text(FERRY_HTML, encoding="utf-8")
    (folder / "remote-work-policy.md").write_text(REMOTE_WORK_MD, encoding="utf-8")
    (folder / "brewmaster-quickstart.md").write_text(BREWMASTER_MD, encoding="utf-8")
    write_docx(
        folder / "it-contacts.docx",
        ("Call the IT desk first for any problem with a laptop, a phone or an account.",
         "The security office handles lost devices and suspicious emails."),
        heading="IT Security Contacts", table=IT_CONTACTS_TABLE,
    )
    write_docx(
        folder / "branch-offices.docx",
        ("Northwind Logistics runs three branch offices in the North Sea ports.",),
        heading="Branch Offices", table=BRANCHES_TABLE,
    )
    return sorted(folder.iterdir())
