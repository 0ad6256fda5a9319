"""Every word the documents print, from the message catalog (Chinese by default).

The msgids are English; the statutory texts' Chinese wording (the 2017 model texts' phrasing)
lives in ``app/translations/zh``. :func:`words` returns a wording function for one language,
so a document reads the same whatever language the request that issued it asked for.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from app.i18n import DEFAULT_LANGUAGE, N_, translate

#: key → msgid
WORDS: dict[str, str] = {
    "title.inspection_record": N_("On-site inspection record"),
    "title.rectification_order": N_("Order to rectify within a time limit"),
    "title.onsite_measures": N_("Decision on on-site measures"),
    "title.recheck_opinion": N_("Rectification recheck opinion"),
    "abbr.inspection_record": N_("Insp. rec."),
    "abbr.rectification_order": N_("Rect. order"),
    "abbr.onsite_measures": N_("On-site dec."),
    "abbr.recheck_opinion": N_("Recheck"),
    "number": N_("%(department)s %(abbr)s [%(year)s] No. %(seq)s"),
    "party": N_("Inspected unit"),
    "address": N_("Address"),
    "uscc": N_("Unified social credit code"),
    "principal": N_("Legal representative (person in charge)"),
    "principal_title": N_("Position"),
    "principal_title.value": N_("Principal"),
    "phone": N_("Telephone"),
    "place": N_("Place inspected"),
    "time": N_("Time of inspection"),
    "time.range": N_("from %(start)s to %(end)s"),
    "inspectors": N_("Enforcement officers"),
    "certificate": N_("Certificate No."),
    "record.checked": N_("What was checked"),
    "record.opening": N_(
        "The enforcement officers showed their certificates, stated the purpose of the "
        "inspection and inspected the unit's work safety item by item against the "
        "%(checklist)s checklist, with the following results:"
    ),
    "result.pass": N_("Compliant"),
    "result.fail": N_("Non-compliant"),
    "result.na": N_("Not applicable"),
    "result.missing": N_("Not checked"),
    "finding.note": N_("Found: %(note)s"),
    "finding.basis": N_("Basis: %(basis)s"),
    "finding.major": N_("(major hazard)"),
    "finding.photos": N_("Photos: appendix figures %(figures)s"),
    "record.summary": N_("%(items)s items checked; %(failed)s not compliant."),
    "photos.title": N_("Appendix: photographs"),
    "photos.caption": N_("Figure %(n)s  %(item)s  taken %(at)s"),
    "photos.caption.untimed": N_("Figure %(n)s  %(item)s"),
    "photos.missing": N_("Figure %(n)s  %(item)s  (photo not yet uploaded, SHA-256 %(sha)s)"),
    "sign.inspector": N_("Enforcement officer (signature)"),
    "sign.representative": N_("Person of the inspected unit on site (signature)"),
    "sign.unit": N_("Person in charge of the unit (signature)"),
    "sign.refused": N_("Refused to sign; witness: %(witness)s"),
    "sign.at": N_("%(date)s at %(place)s"),
    "sign.date": N_("Date"),
    "seal": N_("(Seal of the enforcement department)"),
    "order.opening": N_("%(party)s:"),
    "order.found": N_("On inspection, your unit has the following problems:"),
    "order.item.deadline": N_("To be rectified by %(date)s."),
    "order.item.judged": N_("Judged under %(basis)s: %(text)s"),
    "order.item.breaks": N_("Provision breached: %(basis)s"),
    "order.authority": N_(
        "Under Article 65(1)(iii) of the Work Safety Law of the PRC, your unit is ordered to "
        "rectify each of the problems above by its deadline so as to meet the requirements of"
        " the relevant laws, regulations, rules and standards. Where an accident results, the"
        " responsible persons will be held liable according to law."
    ),
    "order.meanwhile": N_(
        "During rectification your unit shall take measures to ensure safety; where safety "
        "cannot be ensured, withdraw workers from the danger zone, set up warning signs, and "
        "suspend production or stop using the facilities and equipment concerned."
    ),
    "remedies.order": N_(
        "If you disagree with this order, you may apply for administrative review to "
        "%(review)s within 60 days, or bring an administrative suit before %(court)s within 6"
        " months; the order is not suspended meanwhile, unless the law provides otherwise."
    ),
    "remedies.decision": N_(
        "If you disagree with this decision, you may apply for administrative review to "
        "%(review)s within 60 days, or bring an administrative suit before %(court)s within 6"
        " months; the decision is not suspended meanwhile, unless the law provides otherwise."
    ),
    "decision.found": N_(
        "On inspection, your unit (%(place)s) has the following work-safety violations "
        "(accident hazards):"
    ),
    "decision.authority": N_(
        "Under Article 65(1)(iii) of the Work Safety Law of the PRC, the following on-site "
        "measures are decided:"
    ),
    "decision.measure": N_("%(measure)s (item %(item)s)%(note)s"),
    "measure.eliminate_now": N_("Eliminate the hazard at once"),
    "measure.evacuate": N_("Withdraw the workers from the danger zone"),
    "measure.suspend": N_("Suspend production or business temporarily"),
    "measure.stop_use": N_("Stop using the facilities and equipment concerned"),
    "measure.seal": N_("Seal up the facilities, equipment and materials concerned"),
    "measure.detain": N_("Detain the facilities, equipment and materials concerned"),
    "recheck.opening": N_(
        "On %(date)s this department issued the Order to rectify within a time limit "
        "(%(number)s). Having rechecked your unit's rectification on %(on)s, it gives the "
        "following opinion:"
    ),
    "recheck.opening.tickets": N_(
        "This department ordered your unit to rectify the hazards below (tickets "
        "%(numbers)s). Having rechecked your unit's rectification on %(on)s, it gives the "
        "following opinion:"
    ),
    "recheck.passed": N_("Rectified and compliant."),
    "recheck.failed": N_("Not rectified as required; to be rectified by %(date)s."),
    "recheck.failed.nodate": N_("Not rectified as required."),
    "recheck.consequence": N_(
        "Where your unit fails to rectify by the new deadline, it will be dealt with under "
        "Article 102 of the Work Safety Law of the PRC (orders to suspend production and "
        "business for rectification, and fines)."
    ),
    "recheck.ticket": N_("Ticket %(number)s"),
    "verify.caption": N_("Verify: scan the code or open %(url)s, code %(code)s"),
    "page": N_("Page %(page)s"),
    "date": N_("%(y)s-%(m)s-%(d)s"),
    "datetime": N_("%(y)s-%(m)s-%(d)s %(H)s:%(M)s"),
    "none": N_("None"),
    "page.title": N_("Verify an enforcement document"),
    "page.genuine": N_("This document was issued by Fieldsafe and is on record."),
    "page.superseded": N_(
        "A later version of this document replaces this one (version %(version)s is current)."
    ),
    "page.number": N_("Document number"),
    "page.kind": N_("Document"),
    "page.department": N_("Issuing department"),
    "page.date": N_("Date of issue"),
    "page.enterprise": N_("Enterprise"),
    "page.version": N_("Version"),
    "page.sha256": N_("SHA-256 of the PDF"),
    "page.howto": N_(
        "Compare the SHA-256 of your copy of the PDF with the value above (sha256sum FILE), "
        "or send the file to %(endpoint)s."
    ),
    "page.unknown": N_("No document has this code. Check the code printed under the QR code."),
}

Wording = Callable[..., str]


def words(language: str = DEFAULT_LANGUAGE) -> Wording:
    """Return ``say(key, **values)``: the document text ``key`` in ``language``."""

    def say(key: str, **values: Any) -> str:
        return translate(WORDS[key], language, **values)

    return say
