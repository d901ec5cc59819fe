"""Salesforce Outbound Messages of any size, in the shape of
``tests/events/salesforce_outbound_message_opportunity.xml`` (the WSDL's ``notifications``
element): for the many-notifications test and ``bench/salesforce_fanout.py``.

Each notification carries an Opportunity's id and close date, with no whitespace and the
``sf`` namespace declared once on the envelope (the same XML to a parser as Salesforce's
declaration on every ``sObject``), so 5,000 of them fit in the webhooks' 1 MiB limit.
"""

from __future__ import annotations

ORG = "00D5e000000KQ2eEAG"

_HEAD = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"'
    ' xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"'
    ' xmlns:sf="urn:sobject.enterprise.soap.sforce.com"><soapenv:Body>'
    '<notifications xmlns="http://soap.sforce.com/2005/09/outbound">'
    "<OrganizationId>{org}</OrganizationId><ActionId>04k5e000000CaRkAAK</ActionId>"
    '<SessionId xsi:nil="true"/>'
    "<EnterpriseUrl>https://acme.my.salesforce.com/services/Soap/c/60.0/00D5e000000KQ2e</EnterpriseUrl>"
    "<PartnerUrl>https://acme.my.salesforce.com/services/Soap/u/60.0/00D5e000000KQ2e</PartnerUrl>"
)
_NOTE = (
    "<Notification><Id>{note}</Id>"
    '<sObject xsi:type="sf:Opportunity"><sf:Id>{opp}</sf:Id>'
    "<sf:CloseDate>2027-06-30</sf:CloseDate></sObject></Notification>"
)
_TAIL = "</notifications></soapenv:Body></soapenv:Envelope>"


def notification_id(n: int) -> str:
    """The ``Notification/Id`` of notification ``n``: 18 characters, like Salesforce's."""
    return f"04l5e{n:010d}AAJ"


def outbound_message(count: int, first: int = 0, org: str = ORG) -> bytes:
    """An Outbound Message with ``count`` notifications, numbered from ``first``."""
    notes = "".join(
        _NOTE.format(note=notification_id(n), opp=f"0065e{n:010d}AAF") for n in range(first, first + count)
    )
    return (_HEAD.format(org=org) + notes + _TAIL).encode()
