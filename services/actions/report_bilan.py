"""The bilan report, in ODT and PDF, from a frozen snapshot of the bilan.

`BilanRapport` is what the report shows, and nothing else: the caller (the bilans
service, from the bilan's `instantane` and the convention's reference) builds it once,
and both renderings read only it, so a report regenerated from the same snapshot is
the same report.

- `render_pdf`: HTML laid out by WeasyPrint, in this process, as PDF/UA-1 (tagged:
  headings, tables, figures with their alternative text; `lang="fr"`; the title in the
  document information and XMP metadata). LibreOffice converting the ODT would need a
  suite-sized office install in the actions image and a process per report.
- `render_odt`: the same content as OpenDocument text (headings with outline levels,
  tables with header rows, the charts embedded as SVG pictures with a title and a
  description), for whoever edits the bilan before the COPIL.
- Charts: per indicator, the latest value of each year against that year's target, in
  SVG (`chart_svg`), with the figures also given as a table beside it.
"""

from __future__ import annotations

import base64
import datetime as dt
from collections import Counter
from collections.abc import Sequence
from decimal import Decimal
from functools import cache
from typing import TYPE_CHECKING
from xml.sax.saxutils import escape

from pydantic import BaseModel, ConfigDict, Field

from kernel.odf import (
    ODF_VERSION,
    ODT_MIMETYPE,
    XML_DECLARATION,
    XMLNS,
    Member,
    meta,
    package_bytes,
    text_paragraphs,
    xml_attr,
    xml_text,
)
from kernel.tabular.columns import PARIS, french_date, french_number
from services.actions.rules import StatutAction, part_de_la_cible, rang_de_periode

if TYPE_CHECKING:
    import jinja2

ODT_MEDIA_TYPE = ODT_MIMETYPE
PDF_MEDIA_TYPE = "application/pdf"


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class SignataireRapport(_Frozen):
    nom: str
    type: str
    date_signature: dt.date | None = None


class SuiviRapport(_Frozen):
    """The action's last validated suivi."""

    periode: str  # 2026-T1
    avancement: int | None = Field(default=None, ge=0, le=100)
    realisations: str | None = None
    difficultes: str | None = None
    valide_le: dt.date | None = None


class ValeurIndicateur(_Frozen):
    periode: str  # 2026 or 2026-T1
    valeur: Decimal


class Progression(_Frozen):
    """One year of an indicator: its latest value against its target."""

    annee: int
    valeur: Decimal | None
    cible: Decimal | None

    @property
    def pourcentage(self) -> Decimal | None:
        part = part_de_la_cible(self.valeur, self.cible)
        return None if part is None else (part * 100).quantize(Decimal(1))


class IndicateurRapport(_Frozen):
    libelle: str
    unite: str
    nature: str
    valeur_reference: Decimal | None = None
    cibles: dict[int, Decimal] = Field(default_factory=dict)
    valeurs: list[ValeurIndicateur] = Field(default_factory=list)

    def progression(self) -> list[Progression]:
        """Each year with a value or a target: the year's latest value (an annual value
        counts as the year's last), and its target."""
        latest: dict[int, tuple[int, Decimal]] = {}
        for v in self.valeurs:
            year, rank = rang_de_periode(v.periode)
            if year not in latest or rank >= latest[year][0]:
                latest[year] = (rank, v.valeur)
        years = sorted(set(latest) | set(self.cibles))
        return [
            Progression(
                annee=y, valeur=latest[y][1] if y in latest else None, cible=self.cibles.get(y)
            )
            for y in years
        ]


class ActionRapport(_Frozen):
    reference: str | None = None
    titre: str
    statut: StatutAction
    en_retard: bool = False
    porteurs: list[str] = Field(default_factory=list)
    dernier_suivi: SuiviRapport | None = None
    indicateurs: list[IndicateurRapport] = Field(default_factory=list)


class AxeRapport(_Frozen):
    titre: str
    actions: list[ActionRapport] = Field(default_factory=list)
    indicateurs: list[IndicateurRapport] = Field(default_factory=list)  # the axe's own


class SectionRapport(_Frozen):
    titre: str
    texte: str


class ConventionRapport(_Frozen):
    titre: str
    caf: str
    date_debut: dt.date
    date_fin: dt.date


class Synthese(_Frozen):
    total: int
    par_statut: list[tuple[str, int]]  # every statut, in the usual order
    en_retard: int
    avec_suivi_valide: int
    achevement: Decimal | None  # percent of actions réalisées, abandoned ones aside


class BilanRapport(_Frozen):
    titre: str
    type_bilan: str
    etat: str  # brouillon / adopté
    convention: ConventionRapport
    signataires: list[SignataireRapport]
    periode_debut: dt.date
    periode_fin: dt.date
    date_adoption: dt.date | None = None
    sections: list[SectionRapport] = Field(default_factory=list)  # the kind's, in order
    # Indicators of the whole convention (art. 9: "les effets de l'ensemble").
    indicateurs: list[IndicateurRapport] = Field(default_factory=list)
    axes: list[AxeRapport] = Field(default_factory=list)
    genere_le: dt.datetime

    def actions(self) -> list[ActionRapport]:
        return [a for axe in self.axes for a in axe.actions]

    def synthese(self) -> Synthese:
        actions = self.actions()
        counts = Counter(a.statut for a in actions)
        considered = len(actions) - counts[StatutAction.abandonnee]
        done = counts[StatutAction.realisee]
        return Synthese(
            total=len(actions),
            par_statut=[(s.value, counts[s]) for s in StatutAction],
            en_retard=sum(a.en_retard for a in actions),
            avec_suivi_valide=sum(a.dernier_suivi is not None for a in actions),
            achevement=(Decimal(done * 100) / considered).quantize(Decimal(1))
            if considered
            else None,
        )


# --- charts ------------------------------------------------------------------------------

_CHART_W, _CHART_H = 480, 200
_VALUE_COLOUR, _TARGET_COLOUR = "#1f5fa8", "#b9c6d6"  # contrast ≥ 3:1 with each other


def _number(value: Decimal | int | None) -> str:
    return "—" if value is None else french_number(value)


def chart_description(indicateur: IndicateurRapport) -> str:
    """The chart said in words (its alternative text)."""
    years = "; ".join(
        f"{p.annee} : valeur {_number(p.valeur)}, cible {_number(p.cible)}"
        for p in indicateur.progression()
    )
    return f"{indicateur.libelle} ({indicateur.unite}), valeur et cible par année. {years}."


def chart_svg(indicateur: IndicateurRapport) -> str:
    """Grouped bars per year: the latest value (dark) against the target (light)."""
    progress = indicateur.progression()
    top = max([p.valeur or 0 for p in progress] + [p.cible or 0 for p in progress] + [1])
    left, bottom, plot_h = 40, _CHART_H - 40, _CHART_H - 70
    slot = (_CHART_W - left - 10) / max(len(progress), 1)
    bar = min(slot / 3, 40)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{_CHART_W}" height="{_CHART_H}"'
        f' viewBox="0 0 {_CHART_W} {_CHART_H}" role="img" font-family="DejaVu Sans"'
        ' font-size="11">',
        f"<title>{escape(indicateur.libelle)}</title>",
        f"<desc>{escape(chart_description(indicateur))}</desc>",
        f'<line x1="{left}" y1="{bottom}" x2="{_CHART_W - 5}" y2="{bottom}" stroke="#333"/>',
    ]
    for i, p in enumerate(progress):
        x = left + i * slot + slot / 2 - bar
        for j, (value, colour) in enumerate(((p.valeur, _VALUE_COLOUR), (p.cible, _TARGET_COLOUR))):
            if value is None:
                continue
            h = float(value) / float(top) * plot_h
            bx = x + j * bar
            parts.append(
                f'<rect x="{bx:.1f}" y="{bottom - h:.1f}" width="{bar:.1f}" height="{h:.1f}"'
                f' fill="{colour}" stroke="#333" stroke-width="0.5"/>'
                f'<text x="{bx + bar / 2:.1f}" y="{bottom - h - 3:.1f}"'
                f' text-anchor="middle">{escape(french_number(value))}</text>'
            )
        parts.append(
            f'<text x="{x + bar:.1f}" y="{bottom + 15}" text-anchor="middle">{p.annee}</text>'
        )
    legend_y = _CHART_H - 8
    parts.append(
        f'<rect x="{left}" y="{legend_y - 9}" width="10" height="10" fill="{_VALUE_COLOUR}"/>'
        f'<text x="{left + 14}" y="{legend_y}">Valeur</text>'
        f'<rect x="{left + 70}" y="{legend_y - 9}" width="10" height="10"'
        f' fill="{_TARGET_COLOUR}" stroke="#333" stroke-width="0.5"/>'
        f'<text x="{left + 84}" y="{legend_y}">Cible</text></svg>'
    )
    return "".join(parts)


# --- PDF ---------------------------------------------------------------------------------


@cache
def _templates() -> jinja2.Environment:
    # Imported here: the actions service loads jinja2 only once it renders a PDF report.
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("services.actions", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["date"] = lambda d: french_date(d) if d else "—"
    env.filters["nombre"] = _number
    env.filters["svg_data"] = lambda svg: (
        "data:image/svg+xml;base64," + base64.b64encode(svg.encode()).decode("ascii")
    )
    return env


def _generated(rapport: BilanRapport) -> str:
    return rapport.genere_le.astimezone(PARIS).strftime("%d/%m/%Y à %H:%M")


def render_html(rapport: BilanRapport) -> str:
    return (
        _templates()
        .get_template("bilan.html")
        .render(
            r=rapport,
            synthese=rapport.synthese(),
            genere_le=_generated(rapport),
            chart_svg=chart_svg,
            chart_description=chart_description,
        )
    )


def render_pdf(rapport: BilanRapport) -> bytes:
    """The PDF/UA-1 report (CPU-bound, about a second: run it in a worker thread)."""
    # Imported here: WeasyPrint loads Pango and fonts, which only report rendering needs.
    import weasyprint

    document = weasyprint.HTML(string=render_html(rapport))
    pdf: bytes = document.write_pdf(pdf_variant="pdf/ua-1", pdf_identifier=b"coop-bilan")
    return pdf


# --- ODT ---------------------------------------------------------------------------------

_ODT_STYLES = (
    XML_DECLARATION + f'<office:document-styles {XMLNS} office:version="{ODF_VERSION}">'
    "<office:font-face-decls>"
    '<style:font-face style:name="DejaVu Sans" svg:font-family="\'DejaVu Sans\'"/>'
    "</office:font-face-decls><office:styles>"
    '<style:default-style style:family="paragraph"><style:text-properties'
    ' style:font-name="DejaVu Sans" fo:font-size="10pt" fo:language="fr" fo:country="FR"/>'
    "</style:default-style>"
    '<style:style style:name="Standard" style:family="paragraph">'
    '<style:paragraph-properties fo:margin-bottom="0.2cm"/></style:style>'
    '<style:style style:name="Title" style:display-name="Title" style:family="paragraph"'
    ' style:parent-style-name="Standard"><style:text-properties fo:font-size="20pt"'
    ' fo:font-weight="bold"/></style:style>'
    '<style:style style:name="Subtitle" style:display-name="Subtitle" style:family="paragraph"'
    ' style:parent-style-name="Standard"><style:text-properties fo:font-size="13pt"/>'
    "</style:style>"
    + "".join(
        f'<style:style style:name="Heading_20_{n}" style:display-name="Heading {n}"'
        f' style:family="paragraph" style:parent-style-name="Standard"'
        f' style:default-outline-level="{n}"><style:paragraph-properties'
        f' fo:margin-top="0.4cm" fo:keep-with-next="always"/><style:text-properties'
        f' fo:font-size="{size}pt" fo:font-weight="bold"/></style:style>'
        for n, size in ((1, 16), (2, 13), (3, 11))
    )
    + '<style:style style:name="Table_20_Contents" style:display-name="Table Contents"'
    ' style:family="paragraph" style:parent-style-name="Standard"/>'
    '<style:style style:name="Table_20_Heading" style:display-name="Table Heading"'
    ' style:family="paragraph" style:parent-style-name="Table_20_Contents">'
    '<style:text-properties fo:font-weight="bold"/></style:style>'
    "</office:styles><office:automatic-styles>"
    '<style:page-layout style:name="pm1"><style:page-layout-properties fo:page-width="21cm"'
    ' fo:page-height="29.7cm" fo:margin-top="2cm" fo:margin-bottom="2cm"'
    ' fo:margin-left="2cm" fo:margin-right="2cm"/></style:page-layout>'
    "</office:automatic-styles><office:master-styles>"
    '<style:master-page style:name="Standard" style:page-layout-name="pm1"/>'
    "</office:master-styles></office:document-styles>"
).encode()

_ODT_AUTOMATIC = (
    '<style:style style:name="Tbl" style:family="table"><style:table-properties'
    ' style:width="17cm" table:align="margins"/></style:style>'
    '<style:style style:name="Cell" style:family="table-cell"><style:table-cell-properties'
    ' fo:padding="0.08cm" fo:border="0.5pt solid #666666"/></style:style>'
    '<style:style style:name="Graphic" style:family="graphic"><style:graphic-properties'
    ' style:wrap="none" style:vertical-pos="top" style:horizontal-pos="center"/></style:style>'
)


def _h(level: int, text: str) -> str:
    return (
        f'<text:h text:style-name="Heading_20_{level}" text:outline-level="{level}">'
        f"{xml_text(text)}</text:h>"
    )


def _p(text: str, style: str = "Standard") -> str:
    return text_paragraphs(text, style)


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    def cells(values: Sequence[str], style: str) -> str:
        return "".join(
            f'<table:table-cell table:style-name="Cell" office:value-type="string">'
            f"{text_paragraphs(v, style)}</table:table-cell>"
            for v in values
        )

    return (
        f'<table:table table:style-name="Tbl"><table:table-column'
        f' table:number-columns-repeated="{len(headers)}"/><table:table-header-rows>'
        f"<table:table-row>{cells(headers, 'Table_20_Heading')}</table:table-row>"
        "</table:table-header-rows>"
        + "".join(
            f"<table:table-row>{cells(r, 'Table_20_Contents')}</table:table-row>" for r in rows
        )
        + "</table:table>"
    )


def _odt_indicateur(indicateur: IndicateurRapport, pictures: list[Member], level: int) -> str:
    """An indicator's heading, its figures as a table, and its chart (added to `pictures`)."""
    n = len(pictures) + 1
    path = f"Pictures/indicateur-{n}.svg"
    pictures.append(Member(path, "image/svg+xml", chart_svg(indicateur).encode()))
    rows = [
        [
            str(p.annee),
            _number(p.valeur),
            _number(p.cible),
            f"{p.pourcentage} %" if p.pourcentage is not None else "—",
        ]
        for p in indicateur.progression()
    ]
    return (
        _h(level, f"Indicateur : {indicateur.libelle} ({indicateur.unite})")
        + _table(["Année", "Valeur", "Cible", "Atteinte"], rows)
        + '<text:p text:style-name="Standard"><draw:frame draw:style-name="Graphic"'
        f' draw:name="Graphique {n}" text:anchor-type="as-char"'
        ' svg:width="12.7cm" svg:height="5.3cm"><draw:image'
        f' xlink:href={xml_attr(path)} xlink:type="simple" xlink:show="embed"'
        ' xlink:actuate="onLoad"/>'
        f"<svg:title>{xml_text(indicateur.libelle)}</svg:title>"
        f"<svg:desc>{xml_text(chart_description(indicateur))}</svg:desc>"
        "</draw:frame></text:p>"
    )


def _odt_body(rapport: BilanRapport) -> tuple[str, list[Member]]:
    pictures: list[Member] = []
    synthese = rapport.synthese()
    out = [
        f'<text:p text:style-name="Title">{xml_text(rapport.titre)}</text:p>',
        _p(f"{rapport.type_bilan} — {rapport.etat}", "Subtitle"),
        _h(1, "Convention"),
        _p(rapport.convention.titre),
        _p(f"Caf : {rapport.convention.caf}"),
        _p(
            f"Convention du {french_date(rapport.convention.date_debut)} au "
            f"{french_date(rapport.convention.date_fin)}. Période du bilan : du "
            f"{french_date(rapport.periode_debut)} au {french_date(rapport.periode_fin)}."
        ),
    ]
    if rapport.date_adoption:
        out.append(_p(f"Adopté le {french_date(rapport.date_adoption)}."))
    out.append(_h(2, "Signataires"))
    out.append(
        _table(
            ["Signataire", "Type", "Signé le"],
            [
                [s.nom, s.type, french_date(s.date_signature) if s.date_signature else "—"]
                for s in rapport.signataires
            ],
        )
    )
    out.append(_h(1, "Synthèse"))
    out.append(
        _table(
            ["Indicateur", "Valeur"],
            [
                ["Actions", str(synthese.total)],
                *[[f"Actions « {s} »", str(n)] for s, n in synthese.par_statut],
                ["Actions en retard", str(synthese.en_retard)],
                ["Actions avec un suivi validé", str(synthese.avec_suivi_valide)],
                [
                    "Achèvement (actions réalisées, hors abandonnées)",
                    f"{synthese.achevement} %" if synthese.achevement is not None else "—",
                ],
            ],
        )
    )
    for section in rapport.sections:
        out.append(_h(1, section.titre))
        out.append(_p(section.texte))
    if rapport.indicateurs:
        out.append(_h(1, "Indicateurs de la convention"))
        for indicateur in rapport.indicateurs:
            out.append(_odt_indicateur(indicateur, pictures, level=2))
    for axe in rapport.axes:
        out.append(_h(1, axe.titre))
        for indicateur in axe.indicateurs:
            out.append(_odt_indicateur(indicateur, pictures, level=2))
        for action in axe.actions:
            title = f"{action.reference} — {action.titre}" if action.reference else action.titre
            out.append(_h(2, title))
            statut = action.statut.value + (" (en retard)" if action.en_retard else "")
            out.append(_p(f"Statut : {statut}"))
            if action.porteurs:
                out.append(_p(f"Porteurs : {', '.join(action.porteurs)}"))
            suivi = action.dernier_suivi
            if suivi is None:
                out.append(_p("Aucun suivi validé."))
            else:
                avancement = (
                    f", avancement {suivi.avancement} %" if suivi.avancement is not None else ""
                )
                out.append(_p(f"Dernier suivi validé : {suivi.periode}{avancement}."))
                out.append(_h(3, "Réalisations"))
                out.append(_p(suivi.realisations or "—"))
                out.append(_h(3, "Difficultés"))
                out.append(_p(suivi.difficultes or "—"))
            for indicateur in action.indicateurs:
                out.append(_odt_indicateur(indicateur, pictures, level=3))
    out.append(_p(f"Rapport généré le {_generated(rapport)} par Coopération."))
    return "".join(out), pictures


def render_odt(rapport: BilanRapport) -> bytes:
    body, pictures = _odt_body(rapport)
    content = (
        XML_DECLARATION + f'<office:document-content {XMLNS} office:version="{ODF_VERSION}">'
        f"<office:automatic-styles>{_ODT_AUTOMATIC}</office:automatic-styles>"
        f"<office:body><office:text>{body}</office:text></office:body>"
        "</office:document-content>"
    ).encode()
    return package_bytes(
        ODT_MIMETYPE,
        [
            Member("content.xml", "text/xml", content),
            Member("styles.xml", "text/xml", _ODT_STYLES),
            Member("meta.xml", "text/xml", meta(rapport.titre, generated=rapport.genere_le)),
            *pictures,
        ],
    )
