"""Pydantic's validation messages, said in French: the one mapping every app uses.

Pydantic writes its messages in English. A problem's `errors` entries (FastAPI's
request validation, a form or a document validated on its own) take their `message`
from `french_message()`: a template per pydantic error `type`, filled with the error's
`ctx` values. Errors raised by our own validators carry their French message already:
`PydanticCustomError` types (`caractere_nul`...) keep it, and a `ValueError` or an
`AssertionError` raised in a validator gives its own text, without pydantic's English
prefix ("Value error, ...").

`FRENCH_TEMPLATES` covers every type of `pydantic_core.core_schema.ErrorType`
(tests/kernel/test_validation_messages.py proves it), so a type that a new schema
starts to raise is already said in French.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

_FORMAT_DATE = "format attendu AAAA-MM-JJ"
_FORMAT_DATETIME = "format attendu AAAA-MM-JJTHH:MM:SS avec fuseau (ex. 2026-03-31T12:00:00Z)"

FRENCH_TEMPLATES: dict[str, str] = {
    # Presence and shape
    "missing": "Champ obligatoire manquant.",
    "extra_forbidden": "Champ inconnu : il n'est pas accepté.",
    "frozen_field": "Ce champ ne peut pas être modifié.",
    "frozen_instance": "Cet objet ne peut pas être modifié.",
    "invalid_key": "Les clés doivent être des chaînes de caractères.",
    "none_required": "La valeur doit être null.",
    "no_such_attribute": "Attribut inconnu : {attribute}.",
    "get_attribute_error": "Attribut illisible.",
    "model_type": "Un objet JSON est attendu.",
    "model_attributes_type": "Un objet JSON est attendu.",
    "dataclass_type": "Un objet JSON est attendu.",
    "dataclass_exact_type": "Un objet JSON est attendu.",
    "named_tuple_type": "Une liste ou un objet JSON est attendu.",
    "default_factory_not_called": ("Valeur par défaut non calculée : un autre champ est invalide."),
    "recursion_loop": "Référence circulaire dans les données.",
    "recursion_depth_exceeded": "Données trop profondément imbriquées.",
    "needs_python_object": "Valeur non acceptée en JSON.",
    "json_invalid": "Le corps de la requête n'est pas un JSON valide.",
    "json_type": "Un texte JSON est attendu.",
    # Numbers
    "greater_than": "La valeur doit être strictement supérieure à {gt}.",
    "greater_than_equal": "La valeur doit être supérieure ou égale à {ge}.",
    "less_than": "La valeur doit être strictement inférieure à {lt}.",
    "less_than_equal": "La valeur doit être inférieure ou égale à {le}.",
    "multiple_of": "La valeur doit être un multiple de {multiple_of}.",
    "finite_number": "Un nombre fini est attendu.",
    "int_type": "Un nombre entier est attendu.",
    "int_parsing": "Un nombre entier est attendu.",
    "int_parsing_size": "Nombre entier trop grand.",
    "int_from_float": "Un nombre entier est attendu (sans partie décimale).",
    "float_type": "Un nombre est attendu.",
    "float_parsing": "Un nombre est attendu.",
    "decimal_type": "Un nombre décimal est attendu.",
    "decimal_parsing": "Un nombre décimal est attendu.",
    "decimal_max_digits": "Pas plus de {max_digits} chiffres au total.",
    "decimal_max_places": "Pas plus de {decimal_places} chiffres après la virgule.",
    "decimal_whole_digits": "Pas plus de {whole_digits} chiffres avant la virgule.",
    "fraction_type": "Une fraction est attendue.",
    "fraction_parsing": "Une fraction est attendue.",
    "complex_type": "Un nombre complexe est attendu.",
    "complex_str_parsing": "Un nombre complexe est attendu.",
    # Lengths
    "too_short": "Au moins {min_length} élément(s) attendu(s), {actual_length} reçu(s).",
    "too_long": "Au plus {max_length} élément(s) accepté(s), {actual_length} reçu(s).",
    "string_too_short": "Au moins {min_length} caractère(s) attendu(s).",
    "string_too_long": "Au plus {max_length} caractère(s) accepté(s).",
    "bytes_too_short": "Au moins {min_length} octet(s) attendu(s).",
    "bytes_too_long": "Au plus {max_length} octet(s) accepté(s).",
    # Text
    "string_type": "Une chaîne de caractères est attendue.",
    "string_unicode": "Une chaîne de caractères Unicode valide est attendue.",
    "string_pattern_mismatch": "La valeur ne respecte pas le format attendu ({pattern}).",
    "string_not_ascii": "Seuls les caractères ASCII sont acceptés.",
    "bytes_type": "Une suite d'octets est attendue.",
    "bytes_invalid_encoding": "Encodage invalide ({encoding} attendu).",
    # Choices
    "enum": "Valeur non reconnue : {expected} attendu.",
    "literal_error": "Valeur non reconnue : {expected} attendu.",
    "missing_sentinel_error": "Valeur non acceptée.",
    "ellipsis_error": "Valeur non acceptée.",
    "bool_type": "Un booléen est attendu (true ou false).",
    "bool_parsing": "Un booléen est attendu (true ou false).",
    "union_tag_invalid": ("Valeur de « {discriminator} » non reconnue : {expected_tags} attendu."),
    "union_tag_not_found": "Le champ « {discriminator} » est obligatoire.",
    # Containers
    "iterable_type": "Une liste est attendue.",
    "iteration_error": "Liste illisible.",
    "dict_type": "Un objet JSON est attendu.",
    "frozen_dict_type": "Un objet JSON est attendu.",
    "ordered_dict_type": "Un objet JSON est attendu.",
    "counter_type": "Un objet JSON est attendu.",
    "mapping_type": "Un objet JSON est attendu.",
    "list_type": "Une liste est attendue.",
    "deque_type": "Une liste est attendue.",
    "tuple_type": "Une liste est attendue.",
    "set_type": "Une liste (sans doublon) est attendue.",
    "frozen_set_type": "Une liste (sans doublon) est attendue.",
    "set_item_not_hashable": "Les éléments de cette liste doivent être des valeurs simples.",
    # Dates and times
    "date_type": f"Une date est attendue ({_FORMAT_DATE}).",
    "date_parsing": f"Date invalide ({_FORMAT_DATE}).",
    "date_from_datetime_parsing": f"Date invalide ({_FORMAT_DATE}).",
    "date_from_datetime_inexact": f"Une date sans heure est attendue ({_FORMAT_DATE}).",
    "date_past": "La date doit être dans le passé.",
    "date_future": "La date doit être dans le futur.",
    "time_type": "Une heure est attendue (format HH:MM:SS).",
    "time_parsing": "Heure invalide (format HH:MM:SS).",
    "datetime_type": f"Une date et heure est attendue ({_FORMAT_DATETIME}).",
    "datetime_parsing": f"Date et heure invalides ({_FORMAT_DATETIME}).",
    "datetime_object_invalid": f"Date et heure invalides ({_FORMAT_DATETIME}).",
    "datetime_from_date_parsing": f"Date et heure invalides ({_FORMAT_DATETIME}).",
    "datetime_past": "La date et heure doit être dans le passé.",
    "datetime_future": "La date et heure doit être dans le futur.",
    "timezone_naive": "La date et heure ne doit pas porter de fuseau horaire.",
    "timezone_aware": f"La date et heure doit porter un fuseau horaire ({_FORMAT_DATETIME}).",
    "timezone_offset": "Décalage horaire attendu : {tz_expected} secondes.",
    "time_delta_type": "Une durée est attendue (ISO 8601, ex. P1D).",
    "time_delta_parsing": "Durée invalide (ISO 8601, ex. P1D).",
    # Identifiers and addresses
    "uuid_type": "Un identifiant (UUID) est attendu.",
    "uuid_parsing": "Identifiant invalide : un UUID est attendu.",
    "uuid_version": "Un UUID de version {expected_version} est attendu.",
    "url_type": "Une URL est attendue.",
    "url_parsing": "URL invalide.",
    "url_syntax_violation": "URL invalide.",
    "url_too_long": "URL trop longue (au plus {max_length} caractères).",
    "url_scheme": "Schéma d'URL non accepté : {expected_schemes} attendu.",
    # Internal kinds (arguments of a validated call, types of Python objects): no
    # payload of the API should meet them, said in French all the same.
    "is_instance_of": "Type de valeur non accepté.",
    "is_subclass_of": "Type de valeur non accepté.",
    "callable_type": "Type de valeur non accepté.",
    "arguments_type": "Arguments invalides.",
    "missing_argument": "Argument obligatoire manquant.",
    "unexpected_keyword_argument": "Argument inconnu.",
    "missing_keyword_only_argument": "Argument obligatoire manquant.",
    "unexpected_positional_argument": "Argument en trop.",
    "missing_positional_only_argument": "Argument obligatoire manquant.",
    "multiple_argument_values": "Argument donné plusieurs fois.",
    # A validator of ours raised ValueError / AssertionError with a French text.
    "value_error": "{error}",
    "assertion_error": "{error}",
}


def _french_choices(expected: object) -> str:
    """Pydantic's list of choices (``'a', 'b' or 'c'``), joined in French."""
    return str(expected).replace("' or '", "' ou '").replace('" or "', '" ou "')


class _Context(dict[str, str]):
    """A `ctx` for `str.format_map`: a value the template names and pydantic did not
    give reads as empty rather than raising."""

    def __missing__(self, key: str) -> str:
        return ""


def french_message(error: Mapping[str, Any]) -> str:
    """The French message of one pydantic error (an item of `ValidationError.errors()`
    or of FastAPI's `RequestValidationError.errors()`)."""
    code = str(error.get("type", ""))
    template = FRENCH_TEMPLATES.get(code)
    if template is None:
        # A PydanticCustomError of ours: its message is French at the source.
        return str(error.get("msg", ""))
    ctx = _Context({key: str(value) for key, value in (error.get("ctx") or {}).items()})
    for key in ("expected", "expected_tags", "expected_schemes"):
        if key in ctx:
            ctx[key] = _french_choices(ctx[key])
    message = template.format_map(ctx)
    if code in ("value_error", "assertion_error") and not message:
        return "Valeur invalide."
    return message
