"""Which words start an action ("call", "anrufen", "appeler") and which name an event.

Words are folded (see ``lexicon.fold``). English, French and Spanish put the verb first
("buy milk", "acheter du pain", "comprar pan"); German puts the infinitive last
("Milch kaufen"), so German verbs are looked for at the end.
"""

from __future__ import annotations

import re


def _words(text: str) -> frozenset[str]:
    """A word list written as running text, one space between words."""
    return frozenset(text.split())


_ENGLISH_VERBS = _words(
    """
    call phone ring text email e-mail message write reply answer send post mail buy get grab
    order pay book reserve renew cancel schedule submit file return bring take pick drop
    collect fetch check clean wash water feed walk cook bake make prepare prep fix repair
    finish start stop do go visit ask tell print sign read watch listen practice practise
    study pack unpack charge back update install download upload clear empty tidy vacuum
    hoover mow iron change move put turn switch lock unlock open close leave pray stretch
    exercise run jog drink eat sleep wake hand follow contact confirm invite plan organise
    organize sort register apply transfer top refill restock defrost thaw unload load hang
    fold shop sell donate recycle throw remove add set review research test give wish
    congratulate thank log join attend catch deliver ship wrap scan copy paint plant prune
    trim cut shave brush floss measure weigh track draft edit finalise finalize learn play
    stand sit look find see take say call bring let
    """
)
_FRENCH_VERBS = _words(
    """
    appeler acheter payer envoyer reserver prendre faire aller sortir nettoyer laver ranger
    arroser verifier renouveler reparer chercher rappeler ecrire repondre manger boire
    commander annuler etendre preparer finir terminer lire regarder apporter ramener
    recuperer deposer passer rendre inscrire imprimer signer poster planifier organiser
    changer promener nourrir donner porter tondre repasser cuisiner ouvrir fermer eteindre
    allumer charger telecharger mettre jeter vider remplir contacter confirmer inviter
    demander dire voir visiter etudier reviser regler declarer souhaiter feliciter remercier
    telephoner rejoindre aller emmener amener descendre monter appelle achete paie paye
    envoie prends va fais
    """
)
_SPANISH_VERBS = _words(
    """
    llamar comprar pagar enviar mandar reservar tomar hacer ir sacar limpiar lavar ordenar
    regar revisar renovar arreglar reparar buscar escribir responder contestar comer beber
    pedir cancelar tender preparar terminar acabar leer mirar ver traer llevar recoger dejar
    pasar devolver inscribir imprimir firmar planificar organizar cambiar pasear dar poner
    apagar encender cargar descargar tirar vaciar llenar contactar confirmar invitar
    preguntar decir visitar estudiar felicitar agradecer unirme unirse apuntar sacar bajar
    subir abrir cerrar cocinar dormir salir estirar meditar practicar entregar
    """
)
_GERMAN_FIRST = _words(
    """
    ruf kauf bezahl zahl hol bring schick mach denk putz wasch buch bestell gieß giess
    fütter futter geh fahr lies schreib nimm check prüf pruf
    """
)
_GERMAN_INFINITIVE = re.compile(
    r"\w*(?:rufen|kaufen|zahlen|holen|bringen|schicken|senden|machen|putzen|waschen|reparieren"
    r"|buchen|bestellen|giessen|kochen|schreiben|erledigen|melden|kundigen|verlangern|packen"
    r"|raumen|geben|gehen|fahren|mahen|saugen|futtern|checken|prufen|besorgen|hangen|legen"
    r"|stellen|tragen|sortieren|drucken|lernen|uben|trinken|nehmen|suchen|planen|backen|spulen"
    r"|leeren|abgiessen|abgießen|gießen|anrufen|abholen|vorbereiten|schauen|lesen|einkaufen)$"
)
# Words that follow a French or Spanish infinitive ("acheter du pain", "llamar a mamá").
_ROMANCE_FOLLOWERS = _words(
    """
    le la les l' du de des un une mon ma mes ton ta tes son sa ses au aux chez sur a al el
    los las mi mis tu tus su sus en con por para
    """
)
_EVENT_WORDS = _words(
    """
    dentist dentists doctor doctors doc gp appointment appt meeting meetings dinner lunch
    breakfast brunch party birthday bday flight concert interview wedding class lesson game
    match conference webinar drinks coffee gig show movie cinema theatre theater exam
    checkup check-up reservation session rehearsal ceremony funeral festival recital vet
    hairdresser barber physio therapy therapist standup stand-up sync call-with date
    workshop seminar training practice trip termin arzt zahnarzt arzttermin besprechung
    sitzung abendessen mittagessen essen fruhstuck feier geburtstag flug konzert
    vorstellungsgesprach hochzeit kurs spiel konferenz kino theater prufung treffen party
    rendez-vous rdv dentiste medecin docteur reunion diner dejeuner fete soiree anniversaire
    vol entretien mariage cours conference examen cita dentista medico reunion cena comida
    almuerzo fiesta cumpleanos vuelo concierto entrevista boda clase partido conferencia
    cine examen
    """
)
_EVENT_OPENING = re.compile(
    r"^(?:call|chat|meeting|meet|catch-?up|coffee|drinks|lunch|dinner|breakfast|brunch|date"
    r"|telefonat|anruf|appel|llamada|videollamada)\s+(?:with|mit|avec|con)\b"
)
_GERMAN_EVENT_SUFFIX = re.compile(r"\w+(?:termin|gesprach|essen|feier|party|konzert|kurs)$")


def opens_with_verb(words: list[str]) -> bool:
    """Whether the content reads as an instruction: an action verb first (German: last)."""
    if not words:
        return False
    first = words[0]
    if first in _ENGLISH_VERBS or first in _FRENCH_VERBS or first in _SPANISH_VERBS:
        return True
    if first in _GERMAN_FIRST or _GERMAN_INFINITIVE.fullmatch(words[-1]):
        return True
    follower = words[1] if len(words) > 1 else ""
    looks_infinitive = len(first) > 3 and first.endswith(("er", "ir", "re", "ar"))
    return looks_infinitive and (
        follower in _ROMANCE_FOLLOWERS or follower.startswith(("l'", "d'"))
    )


def opens_with_event(words: list[str]) -> bool:
    """Whether the content starts by naming an event ("dentist ...", "meeting with ...")."""
    if not words:
        return False
    return words[0] in _EVENT_WORDS or bool(_EVENT_OPENING.match(" ".join(words[:2])))


def mentions_event(words: list[str]) -> bool:
    """Whether any content word names an event ("Sarah's birthday party")."""
    for word in words:
        bare = word.removesuffix("'s").removesuffix("s'")
        if bare in _EVENT_WORDS or _GERMAN_EVENT_SUFFIX.fullmatch(bare):
            return True
    return False


# Things that happen in the evening: "dinner friday at 8" is at 20:00, not 08:00.
_EVENING_WORDS = _words(
    """
    dinner supper drinks party concert theatre theater movie movies cinema gig bar pub club
    show date tonight evening night abendessen abend party feier konzert kino theater bar
    diner soiree fete concert cinema theatre cena fiesta concierto cine teatro noche copas
    """
)


def mentions_evening(words: list[str]) -> bool:
    """Whether the message names something that happens in the evening."""
    return any(word in _EVENING_WORDS for word in words)
