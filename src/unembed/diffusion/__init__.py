from .loss import heldout_loss, mdlm_loss
from .schedule import (REVEAL_SCHEDULES, CosineSchedule, LinearSchedule, MaskSchedule, get_schedule, reveal_plan,
                       sample_mask, sample_times)

__all__ = ["mdlm_loss", "heldout_loss", "MaskSchedule", "LinearSchedule", "CosineSchedule", "get_schedule",
           "sample_mask", "sample_times", "REVEAL_SCHEDULES", "reveal_plan"]
