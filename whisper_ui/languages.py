"""Whisper's language codes and the English names OpenAI's API reports them by.

faster-whisper knows only the codes (`tokenizer._LANGUAGE_CODES`); OpenAI's
`verbose_json` says "english", not "en", so the OpenAI-compatible routes map one to the
other. Names as in openai/whisper's tokenizer, lower case.
"""

from __future__ import annotations

NAMES: dict[str, str] = {
    "af": "afrikaans", "am": "amharic", "ar": "arabic", "as": "assamese",
    "az": "azerbaijani", "ba": "bashkir", "be": "belarusian", "bg": "bulgarian",
    "bn": "bengali", "bo": "tibetan", "br": "breton", "bs": "bosnian", "ca": "catalan",
    "cs": "czech", "cy": "welsh", "da": "danish", "de": "german", "el": "greek",
    "en": "english", "es": "spanish", "et": "estonian", "eu": "basque", "fa": "persian",
    "fi": "finnish", "fo": "faroese", "fr": "french", "gl": "galician", "gu": "gujarati",
    "ha": "hausa", "haw": "hawaiian", "he": "hebrew", "hi": "hindi", "hr": "croatian",
    "ht": "haitian creole", "hu": "hungarian", "hy": "armenian", "id": "indonesian",
    "is": "icelandic", "it": "italian", "ja": "japanese", "jw": "javanese",
    "ka": "georgian", "kk": "kazakh", "km": "khmer", "kn": "kannada", "ko": "korean",
    "la": "latin", "lb": "luxembourgish", "ln": "lingala", "lo": "lao",
    "lt": "lithuanian", "lv": "latvian", "mg": "malagasy", "mi": "maori",
    "mk": "macedonian", "ml": "malayalam", "mn": "mongolian", "mr": "marathi",
    "ms": "malay", "mt": "maltese", "my": "myanmar", "ne": "nepali", "nl": "dutch",
    "nn": "nynorsk", "no": "norwegian", "oc": "occitan", "pa": "punjabi", "pl": "polish",
    "ps": "pashto", "pt": "portuguese", "ro": "romanian", "ru": "russian",
    "sa": "sanskrit", "sd": "sindhi", "si": "sinhala", "sk": "slovak", "sl": "slovenian",
    "sn": "shona", "so": "somali", "sq": "albanian", "sr": "serbian", "su": "sundanese",
    "sv": "swedish", "sw": "swahili", "ta": "tamil", "te": "telugu", "tg": "tajik",
    "th": "thai", "tk": "turkmen", "tl": "tagalog", "tr": "turkish", "tt": "tatar",
    "uk": "ukrainian", "ur": "urdu", "uz": "uzbek", "vi": "vietnamese", "yi": "yiddish",
    "yo": "yoruba", "zh": "chinese", "yue": "cantonese",
}  # fmt: skip


def name_of(code: str) -> str:
    """OpenAI's name for a Whisper language code; an unknown code comes back as it is."""
    return NAMES.get(code, code)


def language_label(code: str) -> str:
    """How a person reads a code: "German (de)"; an unknown code comes back as it is."""
    name = NAMES.get(code)
    return f"{name.title()} ({code})" if name else code


def language_choices(codes: list[str] | None = None) -> list[tuple[str, str]]:
    """(label, code) pairs sorted by name, for a searchable list ("germ" finds German)."""
    chosen = sorted(NAMES) if codes is None else codes
    return sorted(((language_label(c), c) for c in chosen), key=lambda pair: pair[0].lower())
