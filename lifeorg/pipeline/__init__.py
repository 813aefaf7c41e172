"""Pure pipeline logic: plain values in, plain values out; the actors call it."""
