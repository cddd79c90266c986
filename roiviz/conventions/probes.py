"""placeholder"""
from dataclasses import dataclass
@dataclass(frozen=True)
class Probe: pass
def probe_inputs(): raise NotImplementedError
def probe_outputs(): raise NotImplementedError
