"""Worked solution of notebook 08's second exercise: the distillation loss in a few lines.

The soft term compares the teacher's and the student's distributions softened by the
temperature T (KL divergence, averaged over the rows, times T² so that its gradients keep their
size as T changes); the hard term is the cross-entropy of the rows that have a label (-1 marks
an augmented copy or an unlabelled text), summed and divided by the batch size like the soft
term, so every row weighs the same; alpha mixes the two.
"""

import torch.nn.functional as F

from transferlib.workbook.exercises.efficiency import check_distillation_loss


def distillation_loss(student_logits, teacher_logits, labels, T, alpha):
    log_p_student = F.log_softmax(student_logits / T, dim=-1)
    log_p_teacher = F.log_softmax(teacher_logits / T, dim=-1)
    soft = F.kl_div(log_p_student, log_p_teacher, log_target=True, reduction="batchmean") * T * T
    labelled = labels >= 0
    hard = F.cross_entropy(student_logits[labelled], labels[labelled], reduction="sum")
    return alpha * soft + (1 - alpha) * hard / len(labels)


check_distillation_loss(distillation_loss)
