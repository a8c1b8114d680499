"""The bilan report: a PDF a screen reader can read (PDF/UA tags, title, language,
figures with their alternative text) that poppler renders and reads back, and an ODT
LibreOffice Writer opens, both with the bilan's values and charts."""

from __future__ import annotations

import io
import re
import subprocess
import zipfile
import zlib
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import pytest
from PIL import Image

from services.actions.report_bilan import (
    chart_svg,
    render_html,
    render_odt,
    render_pdf,
)
from services.actions.rules import StatutAction
from tests.actions.bilan_samples import ETP, FAMILLES, PLACES, bilan_rapport
from tests.support.office import WRITER_TO_TEXT, convert
from tests.support.system_tools import require_program

TITLE = "Bilan intermédiaire 2026 — CTG du Pays Voironnais"


@dataclass(frozen=True)
class Rendered:
    pdf: Path
    odt: Path
    odt_text: str


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> Rendered:
    root = tmp_path_factory.mktemp("bilan")
    rapport = bilan_rapport()
    (root / "bilan.pdf").write_bytes(render_pdf(rapport))
    (root / "bilan.odt").write_bytes(render_odt(rapport))
    convert([root / "bilan.odt"], WRITER_TO_TEXT, root / "txt", root / "profile")
    text = (root / "txt" / "bilan.txt").read_text(encoding="utf-8-sig")
    return Rendered(root / "bilan.pdf", root / "bilan.odt", text)


def _run(program: str, *args: str) -> str:
    path = require_program(program, "poppler-utils")
    return subprocess.run(
        [path, *args], capture_output=True, text=True, check=True, timeout=60
    ).stdout


def _pdf_objects(pdf: bytes) -> bytes:
    """The PDF's objects, its compressed object streams inflated (where the catalog is)."""
    out = [pdf]
    for match in re.finditer(rb"stream\r?\n", pdf):
        end = pdf.find(b"endstream", match.end())
        try:
            out.append(zlib.decompress(pdf[match.end() : end]))
        except zlib.error:
            continue
    return b"\n".join(out)


def test_summary_and_progression_come_from_the_snapshot() -> None:
    synthese = bilan_rapport().synthese()
    assert synthese.total == 3
    assert dict(synthese.par_statut)[StatutAction.realisee.value] == 1
    assert synthese.en_retard == 1
    assert synthese.avec_suivi_valide == 1
    assert synthese.achevement == Decimal(50)  # 1 réalisée of 2, the abandoned one aside
    # The latest value of each year, against that year's target.
    assert [(p.annee, p.valeur, p.cible, p.pourcentage) for p in PLACES.progression()] == [
        (2025, Decimal(18), Decimal(20), Decimal(90)),
        (2026, Decimal(27), Decimal(40), Decimal(68)),
    ]
    assert [(p.annee, p.valeur) for p in ETP.progression()] == [(2026, Decimal("1.5"))]
    # An annual value is the year's; a later quarter of the next year starts that year.
    assert [(p.annee, p.valeur, p.pourcentage) for p in FAMILLES.progression()] == [
        (2025, Decimal(310), Decimal(103)),
        (2026, Decimal(120), Decimal(34)),
    ]


def test_user_text_is_text_in_the_html() -> None:
    rapport = bilan_rapport().model_copy(update={"titre": "Bilan <script>alert(1)</script>"})
    html = render_html(rapport)
    assert "<script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert '<html lang="fr">' in html


def test_pdf_is_tagged_titled_and_in_french(rendered: Rendered) -> None:
    info = _run("pdfinfo", str(rendered.pdf))
    assert f"Title:           {TITLE}" in info
    assert "Tagged:          yes" in info
    assert "Author:          Caf de l’Isère" in info
    assert 'pdfuaid:part="1"' in _run("pdfinfo", "-meta", str(rendered.pdf))
    objects = _pdf_objects(rendered.pdf.read_bytes())
    assert b"/Lang (fr)" in objects
    structure = _run("pdfinfo", "-struct", str(rendered.pdf))
    for tag in ("H1", "H2", "H3", "Table", "TH", "TD", "Figure", "Caption"):
        assert re.search(rf"^\s*{tag}\b", structure, re.MULTILINE), tag
    # Each chart is a figure with its alternative text: the convention's indicator, the
    # axe's, and the two of the actions.
    assert structure.count("Figure") == 4
    assert objects.count(b"/Alt") >= 4


def test_pdf_text_holds_the_bilan(rendered: Rendered) -> None:
    text = " ".join(_run("pdftotext", "-layout", str(rendered.pdf), "-").split())
    for expected in (
        "Convention territoriale globale du Pays Voironnais 2024-2028",
        "Communauté d’agglomération du Pays Voironnais EPCI 12/02/2024",
        "Période du bilan : du 01/01/2024 au 31/03/2026.",
        "Achèvement (actions réalisées, hors abandonnées) 50 %",
        "Actions en retard 1",
        "1.1 — Créer un multi-accueil à Voiron",
        "Statut : en cours (en retard)",
        "Dernier suivi validé : 2026-T1, avancement 65 %.",
        "Ouverture de 12 places supplémentaires.",
        "Recrutement d’auxiliaires de puériculture.",
        "2026 27 40 68 %",
        "2026 1,5 2,5 60 %",
        "Indicateurs de la convention",
        "Indicateur : Familles accompagnées (familles)",
        "2025 310 300 103 %",
        "Indicateur : Taux de couverture en accueil du jeune enfant (%)",
        "2026 57,5 60 96 %",
        "Rapport généré le 12/05/2026 à 18:30 par Coopération.",  # Paris time
    ):
        assert expected in text, expected
    assert "Deux communes ont rejoint la démarche." in text


def test_pdf_pages_render_with_their_charts(rendered: Rendered, tmp_path: Path) -> None:
    _run("pdftoppm", "-r", "50", "-png", str(rendered.pdf), str(tmp_path / "page"))
    pages = sorted(tmp_path.glob("page-*.png"))
    assert len(pages) == 4
    bar = (0x1F, 0x5F, 0xA8)  # the value bars' colour

    def bar_pixels(page: Path) -> int:
        with Image.open(page) as image:
            colours = image.convert("RGB").getcolors(1 << 20) or []
        return sum(
            n for n, c in colours if all(abs(a - b) < 12 for a, b in zip(c, bar, strict=True))
        )

    # Page 1 is the summary; the charts come with their indicators, on the pages after.
    assert [bar_pixels(p) > 50 for p in pages] == [False, True, True, True]


def test_odt_is_an_opendocument_text_with_its_charts(rendered: Rendered) -> None:
    data = rendered.odt.read_bytes()
    assert data[30:38] == b"mimetype"
    assert data[38:77] == b"application/vnd.oasis.opendocument.text"
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        names = z.namelist()
        manifest = z.read("META-INF/manifest.xml").decode()
        content = z.read("content.xml").decode()
        chart = z.read("Pictures/indicateur-3.svg").decode()
    assert names[:2] == ["mimetype", "META-INF/manifest.xml"]
    assert (
        'manifest:full-path="Pictures/indicateur-4.svg" manifest:media-type="image/svg+xml"'
        in manifest
    )
    assert chart == chart_svg(PLACES)
    assert "<title>Places d’accueil du jeune enfant créées</title>" in chart
    assert (
        "<svg:desc>Places d’accueil du jeune enfant créées (places), valeur et cible par "
        "année. 2025 : valeur 18, cible 20; 2026 : valeur 27, cible 40.</svg:desc>" in content
    )
    assert (
        '<text:h text:style-name="Heading_20_1" text:outline-level="1">Synthèse</text:h>' in content
    )


def test_libreoffice_writer_opens_the_odt(rendered: Rendered) -> None:
    lines = [line.strip() for line in rendered.odt_text.splitlines() if line.strip()]
    assert lines[0] == TITLE
    for expected in (
        "Convention territoriale globale du Pays Voironnais 2024-2028",
        "Commune de Saint-Étienne-de-Crossey",
        "Achèvement (actions réalisées, hors abandonnées)",
        "1.1 — Créer un multi-accueil à Voiron",
        "Recrutement d’auxiliaires de puériculture.",
        "Le COPIL du 12 mai 2026 a examiné l’avancement du plan.",
        "Deux communes ont rejoint la démarche.",
        "Rapport généré le 12/05/2026 à 18:30 par Coopération.",
        "Indicateurs de la convention",
        "Indicateur : Taux de couverture en accueil du jeune enfant (%)",
    ):
        assert expected in lines, expected
    achevement = lines.index("Achèvement (actions réalisées, hors abandonnées)")
    assert lines[achevement + 1] == "50 %"
    row = lines.index("Indicateur : ETP du relais petite enfance (ETP)")
    assert lines[row + 5 : row + 9] == ["2026", "1,5", "2,5", "60 %"]
