"""isIP, isIPv4 and isIPv6 (docs/reference/helpers.md): the address kinds they tell apart, and
what they do with anything that is not a string."""
import pytest

import iotnet

ISIP_CASES = [
    ('127.0.0.1', 4), ('x127.0.0.1', 0), ('example.com', 0),
    ('0000:0000:0000:0000:0000:0000:0000:0000', 6),
    ('0000:0000:0000:0000:0000:0000:0000:0000::0000', 0),
    ('1050:0:0:0:5:600:300c:326b', 6), ('2001:252:0:1::2008:6', 6),
    ('2001:dead:beef:1::2008:6', 6), ('2001::', 6), ('2001:dead::', 6),
    ('2001:dead:beef::', 6), ('2001:dead:beef:1::', 6),
    ('ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff', 6), (':2001:252:0:1::2008:6:', 0),
    (':2001:252:0:1::2008:6', 0), ('2001:252:0:1::2008:6:', 0), ('2001:252::1::2008:6', 0),
    ('::2001:252:1:2008:6', 6), ('::2001:252:1:1.1.1.1', 6), ('::2001:252:1:255.255.255.255', 6),
    ('::2001:252:1:255.255.255.255.76', 0), ('::anything', 0), ('::1', 6), ('::', 6),
    ('0000:0000:0000:0000:0000:0000:12345:0000', 0), ('0', 0), ('', 0),
    ('fe80::1%eth0', 6),
]


@pytest.mark.parametrize('text,version', ISIP_CASES)
def test_isip_strings(text, version):
    """Port of Node test/parallel/test-net-isip.js (string cases), plus the reference's '%zone' suffix
    on IPv6: isIP gives 0, 4 or 6; isIPv4/isIPv6 agree; the PEP 8 aliases are the same object."""
    assert iotnet.isIP(text) == version
    assert iotnet.isIPv4(text) is (version == 4)
    assert iotnet.isIPv6(text) is (version == 6)
    assert iotnet.is_ip is iotnet.isIP
    assert iotnet.is_ipv4 is iotnet.isIPv4
    assert iotnet.is_ipv6 is iotnet.isIPv6


@pytest.mark.parametrize('value', [None, 123, True, {}, [], 1.5, object()])
def test_isip_non_strings_give_zero(value):
    """Port of Node test/parallel/test-net-isip.js (null, 123, true, {} ...; also
    test-net-isipv4.js and test-net-isipv6.js): anything that is not a string gives 0 / False
    and never raises."""
    assert iotnet.isIP(value) == 0
    assert iotnet.isIPv4(value) is False
    assert iotnet.isIPv6(value) is False
