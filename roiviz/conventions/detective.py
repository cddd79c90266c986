"""placeholder"""
from dataclasses import dataclass
@dataclass(frozen=True)
class Match: pass
@dataclass(frozen=True)
class Diagnosis: pass
def identify(*a, **k): raise NotImplementedError
