"""schema.org reservations in a mail's HTML (``<script type="application/ld+json">``).

Airlines, hotels, booking sites and ticket shops put these in their confirmation mails
(the markup Gmail reads for its cards). Understood: FlightReservation, LodgingReservation,
FoodEstablishmentReservation, EventReservation and a bare Event (or any *Event subtype),
at the top level, in a list, or under ``@graph``. Times keep the offset they are written
with (a departure is in its airport's zone); a time without one is read in the user's
zone. A date without a time makes an all-day event. ``reservationStatus`` cancelled (or
``eventStatus`` EventCancelled) makes a cancellation; the reservation number is the uid.
A block that is not valid JSON is skipped.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
from collections.abc import Callable, Iterator
from html.parser import HTMLParser
from typing import Any

from lifeorg.pipeline.mail.found import (
    CANCELLED,
    CONFIRMED,
    FoundEvent,
    aware,
    clean_location,
    clean_title,
    local_midnight,
)

log = logging.getLogger(__name__)

SOURCE = "jsonld"
# Real markup is a few KB; a bigger block is not worth parsing as JSON.
MAX_BLOCK_CHARS = 256 * 1024
# Items looked at per mail (a booking with many passengers repeats one flight per person).
MAX_ITEMS = 100
# @graph inside lists inside @graph: deeper than this is not a real mail's markup.
MAX_DEPTH = 8
_LD_JSON = "application/ld+json"
_CANCELLED_STATUSES = frozenset({"reservationcancelled", "cancelled", "eventcancelled"})
_DATE_ONLY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
# A hotel stay covers its checkout morning: the all-day span ends after the checkout day.
_CHECKOUT_DAY_INCLUDED = dt.timedelta(days=1)
_ONE_DAY = dt.timedelta(days=1)

Moment = dt.datetime | dt.date | None


def extract_events_from_jsonld(html: str | None, zone: dt.tzinfo) -> list[FoundEvent]:
    """The reservations and events described by the JSON-LD blocks of ``html``."""
    if not html or _LD_JSON not in html.lower():
        return []
    found: list[FoundEvent] = []
    seen: set[tuple[Any, ...]] = set()
    for count, item in enumerate(_items(html)):
        if count >= MAX_ITEMS:
            break
        try:
            event = _read(item, zone)
        except (TypeError, ValueError, AttributeError) as exc:  # odd shapes: skip the item
            log.info("unreadable JSON-LD item: %s", exc)
            continue
        if event is None:
            continue
        key = (event.title, event.start, event.status)
        if key not in seen:
            seen.add(key)
            found.append(event)
    return found


# --- finding the items --------------------------------------------------------------------------


class _LdScripts(HTMLParser):
    """Collects the text of every ``<script type="application/ld+json">``."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=False)
        self.blocks: list[str] = []
        self._current: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "script":
            kind = dict(attrs).get("type") or ""
            self._current = [] if kind.strip().lower() == _LD_JSON else None

    def handle_endtag(self, tag: str) -> None:
        if tag == "script" and self._current is not None:
            self.blocks.append("".join(self._current))
            self._current = None

    def handle_data(self, data: str) -> None:
        if self._current is not None:
            self._current.append(data)


def _items(html: str) -> Iterator[dict[str, Any]]:
    """Every JSON object in the blocks, with lists and ``@graph`` flattened."""
    reader = _LdScripts()
    try:
        reader.feed(html)
        reader.close()
    except Exception:  # lenient parser; keep what was read before an error
        log.info("unreadable HTML while looking for JSON-LD")
    for block in reader.blocks:
        if len(block) > MAX_BLOCK_CHARS:
            continue
        try:
            data = json.loads(block)
        except ValueError:
            log.info("JSON-LD block is not valid JSON; skipped")
            continue
        yield from _flatten(data, 0)


def _flatten(value: Any, depth: int) -> Iterator[dict[str, Any]]:
    if depth > MAX_DEPTH:
        return
    if isinstance(value, list):
        for element in value:
            yield from _flatten(element, depth + 1)
    elif isinstance(value, dict):
        if "@graph" in value:
            yield from _flatten(value["@graph"], depth + 1)
        if "@type" in value:
            yield value


# --- reading one item -----------------------------------------------------------------------


def _read(item: dict[str, Any], zone: dt.tzinfo) -> FoundEvent | None:
    """The event one item describes, or None for a type that is not an event."""
    types = _types(item)
    for name, reader in _READERS:
        if name in types:
            return reader(item, zone)
    if any(t.endswith("event") and not t.endswith("reservation") for t in types):
        return _event(item, item, zone)
    return None


def _flight(item: dict[str, Any], zone: dt.tzinfo) -> FoundEvent | None:
    flight = _first(item.get("reservationFor"))
    departs, arrives = _first(flight.get("departureAirport")), _first(flight.get("arrivalAirport"))
    start = _moment(flight.get("departureTime"), zone)
    if not isinstance(start, dt.datetime):
        return None
    title = f"Flight {_flight_number(flight)} {_city(departs)} → {_city(arrives)}"
    airport = _text(departs.get("name")) or _text(departs.get("iataCode"))
    code = _text(departs.get("iataCode"))
    location = f"{airport} ({code})" if code and code != airport else airport
    arrival = _moment(flight.get("arrivalTime"), zone)
    end = arrival if isinstance(arrival, dt.datetime) and arrival >= start else None
    return _found(item, title, start, end, all_day=False, location=location)


def _lodging(item: dict[str, Any], zone: dt.tzinfo) -> FoundEvent | None:
    hotel = _first(item.get("reservationFor"))
    checkin = _moment(item.get("checkinTime") or item.get("checkinDate"), zone)
    checkout = _moment(item.get("checkoutTime") or item.get("checkoutDate"), zone)
    if checkin is None:
        return None
    title = f"Stay at {_text(hotel.get('name')) or 'hotel'}"
    location = _place(hotel)
    if isinstance(checkin, dt.datetime):
        end = checkout if isinstance(checkout, dt.datetime) and checkout >= checkin else None
        return _found(item, title, checkin, end, all_day=False, location=location)
    last = checkout.date() if isinstance(checkout, dt.datetime) else checkout
    end = local_midnight(last + _CHECKOUT_DAY_INCLUDED, zone) if last and last >= checkin else None
    return _found(item, title, local_midnight(checkin, zone), end, all_day=True, location=location)


def _restaurant(item: dict[str, Any], zone: dt.tzinfo) -> FoundEvent | None:
    place = _first(item.get("reservationFor"))
    start = _moment(item.get("startTime"), zone)
    if not isinstance(start, dt.datetime):
        return None
    name = _text(place.get("name")) or "the restaurant"
    party = _text(item.get("partySize"))
    title = f"Table for {party} at {name}" if party.isdigit() else f"Table at {name}"
    end = _moment(item.get("endTime"), zone)
    end = end if isinstance(end, dt.datetime) and end >= start else None
    return _found(item, title, start, end, all_day=False, location=_place(place))


def _event_reservation(item: dict[str, Any], zone: dt.tzinfo) -> FoundEvent | None:
    return _event(item, _first(item.get("reservationFor")), zone)


def _event(item: dict[str, Any], event: dict[str, Any], zone: dt.tzinfo) -> FoundEvent | None:
    """An Event (bare, or the one an EventReservation is for)."""
    start = _moment(event.get("startDate"), zone)
    if start is None:
        return None
    title = _text(event.get("name")) or "Event"
    location = _place(_first(event.get("location")) or event.get("location"))
    end = _moment(event.get("endDate"), zone)
    if isinstance(start, dt.datetime):
        end = end if isinstance(end, dt.datetime) and end >= start else None
        return _found(item, title, start, end, all_day=False, location=location, also=event)
    last = end.date() if isinstance(end, dt.datetime) else end
    last = last if last and last >= start else start  # a one-day event without an end
    ends = local_midnight(last + _ONE_DAY, zone)
    starts = local_midnight(start, zone)
    return _found(item, title, starts, ends, all_day=True, location=location, also=event)


_READERS: tuple[tuple[str, Callable[[dict[str, Any], dt.tzinfo], FoundEvent | None]], ...] = (
    ("flightreservation", _flight),
    ("lodgingreservation", _lodging),
    ("foodestablishmentreservation", _restaurant),
    ("eventreservation", _event_reservation),
)


def _found(
    item: dict[str, Any],
    title: str,
    start: dt.datetime,
    end: dt.datetime | None,
    *,
    all_day: bool,
    location: str | None,
    also: dict[str, Any] | None = None,
) -> FoundEvent:
    statuses = {_last_segment(item.get("reservationStatus"))}
    if also is not None:
        statuses.add(_last_segment(also.get("eventStatus")))
    number = _text(item.get("reservationNumber") or item.get("reservationId"))
    return FoundEvent(
        title=clean_title(title),
        start=start,
        end=end,
        all_day=all_day,
        location=clean_location(location),
        source=SOURCE,
        status=CANCELLED if statuses & _CANCELLED_STATUSES else CONFIRMED,
        uid=number or None,
    )


# --- values ---------------------------------------------------------------------------------


def _types(item: dict[str, Any]) -> set[str]:
    raw = item.get("@type")
    names = raw if isinstance(raw, list) else [raw]
    return {_last_segment(name) for name in names if isinstance(name, str)}


def _last_segment(value: Any) -> str:
    """ "http://schema.org/ReservationCancelled" -> "reservationcancelled"."""
    if not isinstance(value, str):
        return ""
    return re.split(r"[/:#]", value.strip())[-1].lower()


def _first(value: Any) -> dict[str, Any]:
    """The (first) object a property holds; an empty one for anything else."""
    if isinstance(value, list):
        value = next((v for v in value if isinstance(v, dict)), None)
    return value if isinstance(value, dict) else {}


def _text(value: Any) -> str:
    if isinstance(value, dict):
        value = value.get("name") or value.get("@value")
    if isinstance(value, bool) or value is None or isinstance(value, list | dict):
        return ""
    return " ".join(str(value).split())


def _moment(value: Any, zone: dt.tzinfo) -> Moment:
    """An ISO 8601 date (all-day) or date-time (aware; floating ones in ``zone``)."""
    if isinstance(value, dict):
        value = value.get("@value")
    if not isinstance(value, str):
        return None
    value = value.strip()
    try:
        if _DATE_ONLY.match(value):
            return dt.date.fromisoformat(value)
        return aware(dt.datetime.fromisoformat(value), zone)
    except ValueError:
        return None


def _flight_number(flight: dict[str, Any]) -> str:
    number = _text(flight.get("flightNumber"))
    airline = flight.get("airline")
    code = _text(airline.get("iataCode")) if isinstance(airline, dict) else ""
    if not code or number.upper().startswith(code.upper()):
        return number or code
    return f"{code} {number}"


def _city(airport: dict[str, Any]) -> str:
    address = airport.get("address")
    city = _text(address.get("addressLocality")) if isinstance(address, dict) else ""
    return city or _text(airport.get("name")) or _text(airport.get("iataCode")) or "?"


def _place(place: Any) -> str | None:
    """A place as one line: its name and postal address."""
    if isinstance(place, str):
        return place
    if not isinstance(place, dict):
        return None
    pieces = [_text(place.get("name")), _address(place.get("address"))]
    if not any(pieces):
        pieces = [_text(place.get("url"))]  # a VirtualLocation
    line = ", ".join(p for p in pieces if p)
    return line or None


def _address(address: Any) -> str:
    if isinstance(address, str):
        return " ".join(address.split())
    if not isinstance(address, dict):
        return ""
    locality = " ".join(
        p for p in (_text(address.get("postalCode")), _text(address.get("addressLocality"))) if p
    )
    return ", ".join(p for p in (_text(address.get("streetAddress")), locality) if p)
