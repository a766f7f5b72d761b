"""isIP / isIPv4 / isIPv6 with Node's rules: any non-address value gives 0, never an error."""
import ipaddress
import re

# Node's IPv6 zone suffix: '%' and at least one of [0-9a-zA-Z-.:].
_ZONE = re.compile(r"%[0-9A-Za-z.:-]+\Z")


def isIPv4(value):
    """True for a dotted-quad IPv4 address (no leading zeros)."""
    if not isinstance(value, str) or not value.isascii():
        return False
    try:
        ipaddress.IPv4Address(value)
    except ValueError:
        return False
    return True


def isIPv6(value):
    """True for an IPv6 address, optionally with a %zone suffix."""
    if not isinstance(value, str) or not value.isascii():
        return False
    zone = _ZONE.search(value)
    address = value[:zone.start()] if zone else value
    if "%" in address:
        return False
    try:
        ipaddress.IPv6Address(address)
    except ValueError:
        return False
    return True


def isIP(value):
    """4 for an IPv4 address, 6 for IPv6, 0 for anything else."""
    if isIPv4(value):
        return 4
    if isIPv6(value):
        return 6
    return 0


is_ip = isIP
is_ipv4 = isIPv4
is_ipv6 = isIPv6
