"""British → American spelling of one folded word (stage ``spelling``).

A word list, not open suffix rules: ``-ise`` → ``-ize`` would turn ``supervised``,
``noise`` and ``precise`` into words that do not exist, ``-our`` → ``-or`` ``four`` and
``hour``. Only ``-isation`` is a rule (every ``-isation`` word but ``improvisation`` is
``-ization`` in American spelling). The inflections are generated from the stems, so
``optimisers`` and ``labelling`` are covered without listing every form.
"""

from __future__ import annotations

# Verbs spelt -ise / -yse in British English and -ize / -yze in American English.
_ISE = """actualis author bastardis binaris capitalis categoris centralis characteris colonis criticis
customis decentralis democratis digitis discretis economis emphasis energis equalis finalis formalis fossilis
generalis globalis harmonis hospitalis hypothesis idealis immunis industrialis initialis internalis itemis
jeopardis legalis legitimis lemmatis lexicalis linearis localis marginalis maximis memoris minimis mobilis
modernis monetis neutralis normalis operationalis optimis organis parallelis parameteris parametris pasteuris
patronis penalis personalis polaris popularis prioritis publicis quantis randomis rationalis realis recognis
regularis reorganis revitalis scrutinis sensitis serialis specialis stabilis standardis sterilis stigmatis
subsidis summaris symbolis sympathis synchronis synthesis systematis tantalis temporis theoris tokenis
totalis trivialis unionis utilis vaporis vectoris verbalis visualis vocalis""".split()
_YSE = "analy cataly paraly dialy electroly hydroly".split()
# -our nouns (and what is built on them) that are -or in American English.
_OUR = """armour behaviour candour clamour colour demeanour endeavour favour flavour harbour honour humour
labour neighbour odour parlour rancour rigour rumour saviour savour splendour tumour valour vapour vigour""".split()
# -tre nouns that are -ter in American English.
_TRE = "calibre centre fibre litre lustre meagre metre kilometre centimetre millimetre sombre spectre theatre".split()
# Verbs that double a final l before -ed / -ing / -er in British English only.
_LL = """cancel channel counsel dial equal fuel funnel label level marshal model pedal signal travel tunnel
unlabel""".split()
_WORDS = {
    "aeroplane": "airplane", "ageing": "aging", "aluminium": "aluminum", "analogue": "analog", "catalogue": "catalog",
    "defence": "defense", "grey": "gray", "judgement": "judgment", "acknowledgement": "acknowledgment",
    "licence": "license", "manoeuvre": "maneuver", "offence": "offense", "programme": "program",
    "sulphur": "sulfur", "oestrogen": "estrogen", "haemoglobin": "hemoglobin", "anaemia": "anemia",
    "leukaemia": "leukemia", "paediatric": "pediatric", "orthopaedic": "orthopedic", "anaesthesia": "anesthesia",
    "oesophagus": "esophagus", "foetus": "fetus", "encyclopaedia": "encyclopedia", "tonne": "ton",
    "draught": "draft", "plough": "plow", "mould": "mold", "smoulder": "smolder", "cheque": "check",
}


def _table() -> dict[str, str]:
    table: dict[str, str] = {}
    for stem in _ISE:
        for ending in ("e", "es", "ed", "ing", "er", "ers", "ation", "ations", "able"):
            table[f"{stem}{ending}"] = f"{stem[:-1]}z{ending}"
    for stem in _YSE:
        for ending in ("se", "sed", "sing", "ser", "sers"):
            table[f"{stem}{ending}"] = f"{stem}z{ending[1:]}"
    for word in _OUR:
        american = word[:-3] + "or"
        for ending in ("", "s", "al", "ally", "ed", "ing", "ite", "ites", "less", "ful"):
            table[word + ending] = american + ending
    for word in _TRE:
        american = word[:-2] + "er"
        table[word], table[word + "s"] = american, american + "s"
    for verb in _LL:
        for ending in ("ed", "ing", "er", "ers", "ings"):
            table[f"{verb}l{ending}"] = f"{verb}{ending}"
    table.update(_WORDS)
    table.update({word + "s": american + "s" for word, american in _WORDS.items()})
    return table


_TABLE = _table()


def american(word: str) -> str:
    """The American spelling of a folded (lower-case) word; any other word unchanged."""
    found = _TABLE.get(word)
    if found is not None:
        return found
    if word.endswith(("isation", "isations")) and len(word) > 9 and not word.startswith("improvis"):
        return word.replace("isation", "ization")
    return word
