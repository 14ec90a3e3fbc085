from .loss import mdlm_loss
from .schedule import CosineSchedule, LinearSchedule, MaskSchedule, get_schedule, sample_mask, sample_times

__all__ = ["mdlm_loss", "MaskSchedule", "LinearSchedule", "CosineSchedule", "get_schedule",
           "sample_mask", "sample_times"]
