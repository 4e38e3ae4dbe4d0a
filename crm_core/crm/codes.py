"""Code lists checked on input: ISO 4217 currencies, IBAN lengths per country, IBAN and BIC."""

from __future__ import annotations

import re

__all__ = ["CURRENCIES", "check_bic", "check_currency", "normalise_iban"]

# ISO 4217 active currency codes (funds and precious-metal codes left out).
_CURRENCY_ROWS = (
    "AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BRL BSD BTN",
    "BWP BYN BZD CAD CDF CHF CLP CNY COP CRC CUP CVE CZK DJF DKK DOP DZD EGP ERN ETB EUR FJD",
    "FKP GBP GEL GHS GIP GMD GNF GTQ GYD HKD HNL HTG HUF IDR ILS INR IQD IRR ISK JMD JOD JPY",
    "KES KGS KHR KMF KPW KRW KWD KYD KZT LAK LBP LKR LRD LSL LYD MAD MDL MGA MKD MMK MNT MOP",
    "MRU MUR MVR MWK MXN MYR MZN NAD NGN NIO NOK NPR NZD OMR PAB PEN PGK PHP PKR PLN PYG QAR",
    "RON RSD RUB RWF SAR SBD SCR SDG SEK SGD SHP SLE SOS SRD SSP STN SVC SYP SZL THB TJS TMT",
    "TND TOP TRY TTD TWD TZS UAH UGX USD UYU UZS VED VES VND VUV WST XAF XCD XOF XPF YER ZAR",
    "ZMW ZWG",
)
CURRENCIES = frozenset(code for row in _CURRENCY_ROWS for code in row.split())

# IBAN length per country (SWIFT IBAN registry); a country not listed is refused.
IBAN_LENGTHS = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22,
    "BR": 29, "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DK": 18, "DO": 28,
    "EE": 20, "EG": 29, "ES": 24, "FI": 18, "FO": 18, "FR": 27, "GB": 22, "GE": 22, "GI": 23,
    "GL": 18, "GR": 27, "GT": 28, "HR": 21, "HU": 28, "IE": 22, "IL": 23, "IQ": 23, "IR": 26,
    "IS": 26, "IT": 27, "JO": 30, "KW": 30, "KZ": 20, "LB": 28, "LC": 32, "LI": 21, "LT": 20,
    "LU": 20, "LV": 21, "LY": 25, "MC": 27, "MD": 24, "ME": 22, "MK": 19, "MR": 27, "MT": 31,
    "MU": 30, "NL": 18, "NO": 15, "PK": 24, "PL": 28, "PS": 29, "PT": 25, "QA": 29, "RO": 24,
    "RS": 22, "SA": 24, "SC": 31, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "ST": 25, "SV": 28,
    "TL": 23, "TN": 24, "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20,
}  # fmt: skip

_IBAN_RE = re.compile(r"^[A-Z]{2}[0-9]{2}[A-Z0-9]{11,30}$")
_BIC_RE = re.compile(r"^[A-Z]{4}[A-Z]{2}[A-Z0-9]{2}([A-Z0-9]{3})?$")


def check_currency(code: str) -> str:
    """``code`` if it is an ISO 4217 currency; ValueError otherwise."""
    if code not in CURRENCIES:
        raise ValueError(f"{code!r} is not an ISO 4217 currency code such as EUR or USD")
    return code


def normalise_iban(raw: str) -> str:
    """The IBAN without spaces, upper-case, with its country length and mod-97 checked."""
    iban = re.sub(r"[\s-]", "", raw).upper()
    if not _IBAN_RE.match(iban):
        raise ValueError("must look like GR16 0110 1250 0000 0001 2300 695 (country, check digits)")
    length = IBAN_LENGTHS.get(iban[:2])
    if length is None:
        raise ValueError(f"{iban[:2]} is not a country that uses IBANs")
    if len(iban) != length:
        raise ValueError(f"an IBAN of {iban[:2]} has {length} characters, this one {len(iban)}")
    digits = "".join(str(int(c, 36)) for c in iban[4:] + iban[:4])
    if int(digits) % 97 != 1:
        raise ValueError("the check digits do not match (mistyped?)")
    return iban


def check_bic(raw: str) -> str:
    """The BIC (SWIFT code) upper-case, 8 or 11 characters: bank, country, location, branch."""
    bic = raw.strip().upper()
    if not _BIC_RE.match(bic):
        raise ValueError("must be a BIC of 8 or 11 characters such as ETHNGRAA or ETHNGRAAXXX")
    return bic
