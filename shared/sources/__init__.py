"""One module per vendor: everything that knows a vendor's field names lives in its module;
the rest of taops sees only our own events and models."""
