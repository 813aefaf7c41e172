"""The words of a question worth searching for: "what's the wifi password?" -> "wifi password".

Search requires every word to match, so the words that only make a sentence a question
(in English, German, French and Spanish) are dropped first. A question made only of such
words is searched as it was written.
"""

from __future__ import annotations

import re
import unicodedata

_APOSTROPHE = "\u2019"  # the typographic one phones type
_WORD = re.compile(rf"[\w'{_APOSTROPHE}-]+", re.UNICODE)


# Folded (lower case, no accents), as search_text folds them.
def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


_QUESTION_WORDS = _words(
    """
    what whats what's where wheres where's when whens who whos who's whom whose how hows how's
    which why is are was were be been do does did dont don't can could would should shall will
    i me my mine we our ours you your the a an of for to in on at about with from by and or
    it its it's this that these those there any some again please tell show find search look
    up remember remind know saved save note notes said say
    was wo wann wer wie welche welcher welches warum ist sind war hab habe hatte ich mir mich
    mein meine der die das den dem des ein eine einen fur von zu im am an auf mit und oder
    noch mal bitte zeig zeige such suche finde gespeichert
    que quoi qu quel quelle quels quelles ou quand qui comment pourquoi est sont etait j je
    me moi mon ma mes le la les l un une des du de d a au aux pour dans sur avec et s il
    rappelle encore
    que qué donde dónde cuando cuándo quien quién como cómo cual cuál cuales por porque es
    son era fue mi mis yo el la los las lo un una unos unas de del al para en con y o me
    dime muestra busca guarde guardé
    """
)


def _fold(word: str) -> str:
    decomposed = unicodedata.normalize("NFKD", word.casefold().replace(_APOSTROPHE, "'"))
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch)).strip("'")


def search_words(question: str) -> str:
    """The question's meaningful words, for an all-words search."""
    kept = [w for w in _WORD.findall(question) if _fold(w) not in _QUESTION_WORDS]
    return " ".join(kept) if kept else question
