"""The SNMP wire format shared by Pantau's poller and the simulated city: a lean BER codec
(v2c and v3 framing, PDUs) and the v3 User-based Security Model. See snmpwire/ber.py for why it
is hand-written."""
