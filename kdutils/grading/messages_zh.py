"""The grader's diagnoses in Chinese: ``MESSAGES_ZH`` has exactly the ids and fields of ``messages.MESSAGES``.

Used by the Chinese releases of the assignments (``losses_zh``, ``training_zh``; issue 17), whose
locked first cell calls ``kd.grading.prepare(lang="zh")``. The terms are those of the Chinese
edition's glossary ``zh/glossary.yml`` (温度, 教师模型, 学生模型, 软标签, KL 散度, 交叉熵, 批平均, 轮 ...);
code, argument names and PyTorch calls stay as they are written. Like the English table, the
diagnosis comes first and the example after it (``nbgrader validate`` cuts lines at 90 characters).
"""
from __future__ import annotations

__all__ = ["MESSAGES_ZH"]

_SOFTMAX_EXPECTED = "输入已经是概率，却又做了一次 softmax：直接使用这些概率"
_ALPHA_SWAPPED = "alpha 用反了：alpha 加权软标签（教师模型）项，1 - alpha 加权硬标签项"
_CE_AT_T = "硬标签交叉熵是在温度 T 下计算的；它必须用原始 logit（T = 1）"
_TEACHER_TRAIN = "教师模型处于训练模式（dropout 生效）：在循环之前调用 teacher.eval()"

MESSAGES_ZH: dict[str, str] = {
    # --- any check: what the kernel saw ------------------------------------------------------------
    "result.not_tensor": "返回了 {type}，应返回 torch.Tensor",
    "result.tensor_subclass": "返回了 torch.Tensor 的子类（{type}）；请返回普通的 torch.Tensor",
    "result.not_floating": "返回的张量 dtype 为 {dtype}，应为浮点类型",
    "result.raised": "抛出了 {error}：{text}",
    "result.raised_bare": "抛出了 {error}",
    "result.not_implemented": "抛出了 NotImplementedError：还没有实现；把 `raise NotImplementedError()` 换成你的代码",
    "input.not_function": "{name} 必须是函数，得到的是 {type}",
    "input.not_module": "{name} 必须是 nn.Module，得到的是 {type}",
    "input.bad_epochs": "EPOCHS 必须是正整数，得到的是 EPOCHS={epochs!r}",
    "input.bad_part": "part 必须是 {parts} 之一，得到的是 part={part!r}",
    "worker.no_answer": "评分进程没有应答；请重新运行 notebook 的第一个代码单元格（setup）",
    "worker.unknown_check": "未知的检查 {check!r}",
    "worker.error": "评分出错：{error}：{text}",
    "kernel.no_exit": "评分期间 os._exit() 已被禁用",
    "hidden.only_in_grading": ("hidden=True：隐藏测试只在评分时运行，用的是评分程序写进隐藏测试单元格的作业密钥所生成的用例；"
                               "要运行可见测试，调用检查时不要传 hidden="),
    "hidden.bad_key": ("hidden={value!r}：hidden 只能是 False 或作业密钥（kd.grading.HIDDEN，或 'kdk1-' 加 32 位十六进制数）；"
                       "隐藏测试只在评分时运行"),
    "ok": "通过",
    # --- loss functions: generic verdicts ---------------------------------------------------------
    "loss.calls_reference": ("{name} 调用了参考实现（{calls}）。本题要求你用 PyTorch 运算自己实现 {name}，"
                             "调用 kdutils 的参考实现不得分。"),
    "loss.case_error": "{name} {error}。示例：{case}",
    "loss.wrong_shape": "返回的形状为 {shape}，应为 {expected}{hint}。示例：{case}",
    "loss.wrong_shape.scalar": "（损失必须是一个数：对批量取平均）",
    "loss.not_finite": "极端 logit 下结果不是有限值：{how}。示例：{case} 得到 {got}",
    "loss.not_finite.softmax_how": "在 exp() 之前减去每一行的最大值，或使用 torch.softmax",
    "loss.not_finite.log_how": "用 F.log_softmax 代替 log(softmax(...))，后者会溢出或得到 log(0)",
    "loss.zero_log_zero": ("0 * log(0) 是 NaN：教师模型概率 p = 0 的项必须记为 0（用 torch.xlogy 或 "
                           "torch.where）。示例：{case} 得到 {got}"),
    "loss.no_gradient": ("梯度传不回输入：不要对中间结果调用 .detach()、.item()、.numpy() 或 "
                         "torch.tensor(...)。示例：{case}"),
    "loss.gradient_not_finite": ("梯度不是有限值：用 F.log_softmax 计算对数概率，"
                                 "不要用 log(softmax(...))。示例：{case} 得到 {got}"),
    "loss.not_finite_at": "展平后下标为 {i} 的值（共 {n} 个）是 {value}；{bad} 个值不是有限值",
    "loss.known_mistake": "{mistake}。示例：{case} 返回 {got}，应为 {expected}。",
    "loss.constant": ("{name} 与输入无关：对每个输入都返回 {got}（共 {n} 个用例）。"
                      "示例：{case} 返回 {got}，应为 {expected}。"),
    "loss.mismatch": "{diagnosis}。示例：{case} 的{kind}为 {got}，应为 {expected}。",
    "loss.mismatch.value": "{name} 返回的值不对",
    "loss.mismatch.negative": "损失为负，而交叉熵或 KL 散度永远不会为负{kl_div}",
    "loss.mismatch.negative_kl_div": "；F.kl_div 的第一个参数应是对数概率",
    "loss.mismatch.ratio": "你的值是期望值的 {ratio:.4g} 倍",
    "loss.mismatch.kind.value": "值",
    "loss.mismatch.kind.gradient": "梯度",
    "loss.mismatch.gradient": "值正确但梯度不对：检查是否有被 detach 的项或常数项",
    # --- loss functions: values off by a known factor (the ratio hints) -----------------------------
    "ratio.T": "与期望值相差 T = {T:g} 倍：KL 项要乘以 T**2",
    "ratio.C": "与期望值相差 C = {C} 倍：用 reduction='batchmean'（批平均），不要用 'mean'",
    "ratio.N": "与期望值相差 N = {N} 倍：对批量取平均，不要求和",
    "ratio.C_1d": "一维输入与期望值相差 C = {C} 倍：把 (C,) 当作只有一个样本的批量",
    # --- softmax_with_temperature: known mistakes -------------------------------------------------
    "softmax.wrong_dim": "softmax 的维度不对：对每一行在类别上归一化，用 dim=-1",
    "softmax.times_T": "logit 乘以了 T；应除以温度 T（logits / T）",
    "softmax.no_T": "忽略了温度 T：在 softmax 之前把 logit 除以 T",
    "softmax.T_squared": "logit 除以了 T²，而不是 T",
    "softmax.log_softmax": "返回的是对数概率（log_softmax）；请返回概率",
    "softmax.not_normalised": "输出没有归一化：把 exp(z/T) 除以它在类别上的和（每行之和必须为 1）",
    "softmax.normalised_globally": "在整个张量上归一化，而不是逐行：只在最后一维上求和（dim=-1, keepdim=True）",
    # --- soft_cross_entropy: known mistakes -------------------------------------------------------
    "sce.swapped": ("参数顺序反了：用教师模型的 p 加权学生模型 q 的对数，-sum(p * log q)，"
                    "且学生模型在前：soft_cross_entropy(student_probs, teacher_probs)"),
    "sce.xlogy_swapped": ("xlogy 的参数顺序反了：用 torch.xlogy(teacher_probs, student_probs)，"
                          "教师模型的 p 在前：-sum(p * log q)"),
    "sce.cross_entropy_of_log": ("F.cross_entropy(log q, p) 又归一化了一次：它会对输入做 log_softmax，"
                                 "输入必须是 logit。这里的输入是概率：用 -sum(p * log q)"),
    "sce.negative": "损失为负：缺少负号，交叉熵是 -sum(p * log q)",
    "sce.log10": "对数的底不对（log10）：用自然对数 torch.log，单位是奈特（nat）",
    "sce.log2": "对数的底不对（log2）：用自然对数 torch.log，单位是奈特（nat）",
    "sce.batch_sum": "对批量求了和：应对各行取平均（批平均），不要求和",
    "sce.mean_over_classes": "与期望值相差 C 倍：你既对行、也对类别取了平均；应在类别上求和，再对批量取平均",
    "sce.kl": "你算的是 KL(p || q)，即交叉熵减去教师模型的熵；交叉熵是 -sum(p * log q)",
    "sce.softmax_of_probs": _SOFTMAX_EXPECTED,
    # --- kd_kl_loss: known mistakes ---------------------------------------------------------------
    "kd.no_T2": "正好差了 T² = {T2:g} 倍：KL 项要乘以 T**2",
    "kd.times_T": "与期望值相差 T = {T:g} 倍：KL 项乘的是 T**2，不是 T",
    "kd.mean": "与期望值相差 C = {C} 倍：用 reduction='batchmean'，不要用 'mean'（在类别上求和，对行取平均）",
    "kd.batch_sum": "对批量求了和（差了 N = {N} 倍）：用 reduction='batchmean'",
    "kd.one_d": ("一维输入 (C,) 是一个样本：F.kl_div 的 'batchmean' 会除以 input.size(0) = C = {C}；"
                 "把一维输入当作只有一个样本的批量（unsqueeze(0)）"),
    "kd.reversed": "KL 方向反了：损失是正向 KL，即 KL(教师模型 || 学生模型)，以教师模型的概率为目标",
    "kd.T_student_only": "温度只作用在学生模型的 logit 上：两组 logit 都要除以 T",
    "kd.T_teacher_only": "温度只作用在教师模型的 logit 上：两组 logit 都要除以 T",
    "kd.no_T": "softmax 中忽略了温度：两组 logit 都要除以 T",
    "kd.kl_div_probs": "损失为负：F.kl_div 的第一个参数应是对数概率（用 log_softmax，不要用 softmax）",
    "kd.kl_div_args": ("F.kl_div 的第一个参数应是对数概率，目标应是概率"
                       "（或 log_target=True 时的对数概率）"),
    "kd.cross_entropy": "你算的是交叉熵 H(p, q) = KL + 教师模型的熵；应使用 KL 散度",
    "kd.wrong_dim": "softmax 的维度不对：用 dim=-1（类别维）",
    # --- distillation_loss: known mistakes --------------------------------------------------------
    "dl.alpha_swapped": _ALPHA_SWAPPED,
    "dl.ce_at_T": _CE_AT_T,
    "dl.ce_times_T2": "硬标签交叉熵乘了 T²；只有软标签项乘 T**2",
    "dl.no_T2": "软标签项没有缩放：KL 项正好差了 T² = {T2:g} 倍；要乘以 T**2",
    "dl.no_hard": "缺少硬标签项：加上 (1 - alpha) * cross_entropy(student_logits, labels)",
    "dl.no_soft": "缺少软标签项：加上 alpha * kd_kl_loss(student_logits, teacher_logits, T)",
    "dl.unweighted": "两项没有加权：用 alpha * soft + (1 - alpha) * hard",
    "dl.teacher_labels": "硬标签项用的是教师模型的 argmax，而不是真实标签",
    "dl.teacher_argmax": ("软标签项是针对教师模型 argmax 的交叉熵：argmax 是硬标签，丢掉了教师模型的软标签；"
                          "应使用 kd_kl_loss(student_logits, teacher_logits, T)，即两个软化分布之间的 KL 散度"),
    "dl.reversed": "软标签项中 KL 方向反了：损失是 KL(教师模型 || 学生模型)",
    # --- distill_one_epoch ------------------------------------------------------------------------
    "loop.error": "distill_one_epoch {error}",
    "loop.teacher_not_called": "从未调用教师模型：每个小批量都要计算它的 logit",
    "loop.teacher_train_mode": _TEACHER_TRAIN,
    "loop.teacher_grad_enabled": "教师模型前向计算时开启了梯度：把它放进 torch.no_grad()",
    "loop.teacher_got_grads": "教师模型收到了梯度：把它的前向计算放进 torch.no_grad()",
    "loop.teacher_changed": "教师模型的权重变了：只能更新学生模型的参数",
    "loop.student_not_called": "从未调用学生模型",
    "loop.student_eval_mode": "训练时学生模型处于 eval 模式：在循环之前调用 student.train()",
    "loop.step_count": "{batches} 个小批量调用了 {steps} 次 optimizer.step()：每个小批量调用一次",
    "loop.own_optimizer": ("传给你的优化器一步也没有走（{batches} 个小批量，0 次 step），而 loss.backward() 运行了："
                           "请用作为参数 `optimizer` 传入的优化器，不要自己新建一个；每个小批量调用一次 optimizer.step()"),
    "loop.backward_count": "{batches} 个小批量调用了 {backward} 次 loss.backward()：每个小批量调用一次",
    "loop.no_zero_grad": "梯度在小批量之间累积：每个小批量在 loss.backward() 之前调用 optimizer.zero_grad()",
    "loop.alpha_swapped": _ALPHA_SWAPPED,
    "loop.ce_at_T": _CE_AT_T,
    "loop.no_T2": "软标签项缺少 T² 因子；用 kd.losses.distillation_loss",
    "loop.kl_only": "只用了软标签项：损失是 kd.losses.distillation_loss(..., T, alpha)，要带上标签",
    "loop.ce_only": "只用了硬标签交叉熵：损失是 kd.losses.distillation_loss(..., T, alpha)",
    "loop.weights_unchanged_order": ("学生模型的权重没有变化：按顺序调用 optimizer.zero_grad()、"
                                     "loss.backward()、optimizer.step()"),
    "loop.weights_known_mistake": "一轮之后学生模型的权重与参考实现训练一轮的结果不同：{mistake}",
    "loop.weights_unchanged": "学生模型的权重没有变化：每个小批量都要调用 optimizer.step()",
    "loop.weights_teacher_train": ("一轮之后学生模型的权重与参考实现训练一轮的结果不同，因为教师模型处于训练模式"
                                   "（dropout 生效）：调用 teacher.eval()"),
    "loop.weights_student_eval": "一轮之后学生模型的权重与参考实现训练一轮的结果不同；学生模型处于 eval 模式：调用 student.train()",
    "loop.weights_differ": ("一轮之后学生模型的权重与参考实现训练一轮的结果不同：用 "
                            "kd.losses.distillation_loss(student_logits, teacher_logits, labels, T, alpha)，"
                            "每个小批量 zero_grad、backward、step 各一次，教师模型处于 eval 模式"),
    "loop.returned_tensor": "返回了张量；请用 loss.item() 返回各小批量损失的平均值（Python float）",
    "loop.returned_type": "返回了 {type}；请返回各小批量损失的平均值（Python float）",
    "loop.last_batch": "返回的是最后一个小批量的损失；请返回所有小批量的平均值",
    "loop.sum": "返回的是各小批量损失之和；请除以小批量的个数（{batches}）",
    "loop.wrong_mean": "返回了 {got:.6g}，应为小批量损失的平均值 {expected:.6g}",
    # --- evaluate_accuracy ------------------------------------------------------------------------
    "acc.error": "evaluate_accuracy {error}",
    "acc.not_called": "从未调用模型",
    "acc.train_mode": "模型处于训练模式（dropout 生效）：先调用 model.eval()",
    "acc.grad_enabled": "评估时记录了梯度：把循环放进 torch.no_grad()",
    "acc.returned_tensor": "返回了张量；请返回 Python float（用 .item() 或 float(...)）",
    "acc.returned_type": "返回了 {type}；请以 [0, 1] 之间的 Python float 返回准确率",
    "acc.percentage": "返回的是百分数（{got:g}）；请返回 [0, 1] 之间的比例",
    "acc.count": "返回的是预测正确的个数（{got:g}）；请除以样本总数",
    "acc.batch_mean": "对各小批量的准确率取了平均，但最后一个小批量较小：统计所有小批量中预测正确的个数，再除以总数",
    "acc.wrong": "返回了 {got:.6g}，应为准确率 {expected:.6g}{why}",
    "acc.wrong.train_mode": "：模型处于训练模式（dropout 生效），先调用 model.eval()",
    # --- fit_soft_targets -------------------------------------------------------------------------
    "fit.error": "fit_soft_targets {error}",
    "fit.returned_type": "返回了 {type}；请返回每一步损失值组成的列表",
    "fit.length": "steps={steps} 却返回了 {n} 个损失值：每一步记录一个",
    "fit.not_numbers": "列表里必须是数（用 loss.item()）",
    "fit.tensors": "列表里是张量，不是 Python float：每一步记录 loss.item()",
    "fit.not_finite": "损失变成了 NaN 或无穷大：检查损失函数和学习率",
    "fit.not_decreasing": ("损失没有下降（第一步 {first:.4g}，最后一步 {last:.4g}）：目标必须是 teacher_probs，"
                           "而不是由学生模型自己的输出算出的东西，那样它无从学习"),
    "fit.nan": "训练后的学生模型输出 NaN：损失发散了",
    "fit.unchanged": "传入的模型没有变化：原地训练它（优化器作用于 student.parameters()，再 loss.backward() 和 optimizer.step()）",
    "fit.one_hot": ("学生模型的预测接近独热（平均最大概率 {sharp:.3f}），而目标是软标签：硬标签损失"
                    "（在类别下标上算交叉熵，如原文的稀疏（sparse）交叉熵损失）会把输出推向独热，给 F.kl_div 传概率"
                    "而不是对数概率（F.log_softmax）也一样；"
                    "应针对完整的 teacher_probs 最小化软标签损失"),
    "fit.far": ("训练后 softmax(student(inputs)) 与 teacher_probs 最多相差 {err:.3f}（允许 0.05）："
                "最小化软标签损失，如 KL(teacher_probs || softmax(student(inputs)))。常见原因：每一步没有调用 "
                "optimizer.zero_grad()（梯度一直累加），或给 F.kl_div 传了概率，而它要的是对数概率（F.log_softmax）"),
    "fit.no_zero_grad": ("梯度在各步之间累加：每一步在 loss.backward() 之前调用 optimizer.zero_grad()"
                         "（训练后 softmax(student(inputs)) 与 teacher_probs 最多相差 {err:.3f}）"),
    "fit.kl_div_probs": ("F.kl_div 的第一个参数应是对数概率：传 F.log_softmax(logits, -1)，不要传 softmax 概率"
                         "（训练后 softmax(student(inputs)) 与 teacher_probs 最多相差 {err:.3f}）"),
    # --- the final student ------------------------------------------------------------------------
    "final.epochs": "EPOCHS = {epochs}：要在 {max_epochs} 轮之内达到目标",
    "final.fix_first": "先修好 {name}：它的 {part!r} 检查没通过：{message}",
    "loss.fix_first": "先修好 {name}；它的{what}没通过：{message}",
    "loss.fix_first.T": " T = {T} 用例",
    "loss.fix_first.part": " {part!r} 检查",
    "final.profiler_removed": "训练时移除了评分程序的 profiler（sys.setprofile）",
    "final.error": "distil_student {error}",
    "final.library_loop": ("distil_student 调用了 kd.train.{loop}：请用你自己的 distill_one_epoch 训练，每轮一次。"
                           "评分程序会自己运行 distil_student，并统计对你的 distill_one_epoch 的调用次数。"),
    "final.returned_type": "distil_student 返回了 {type}；请返回训练好的学生模型",
    "final.architecture": ("学生模型必须是 kd.models.build_model(kd.models.student_config(hidden=...))，"
                           "即输入 64 个像素、单隐藏层的多层感知机；得到的参数形状为 {shapes}"),
    "final.too_wide": "学生模型的隐藏层有 {hidden} 个单元；最多允许 {max_hidden} 个",
    "final.labels_alone": ("distil_student 从未调用你的 distill_one_epoch（测试集准确率 {acc:.4f}）。只用这 {n} 个"
                           "硬标签训练，学生模型达不到 {target}：硬标签只说明图像是哪个数字，教师模型的软标签还说明"
                           "它与其他每个数字有多像。请蒸馏教师模型。"),
    "final.epoch_calls": "epochs={epochs} 时 distil_student 调用了 {calls} 次你的 distill_one_epoch：每轮调用一次",
    "final.below_target": ("训练 {epochs} 轮后测试集准确率 {acc:.4f} 低于目标 {target}：训练更多轮"
                           "（最多 {max_epochs} 轮），或检查 T、alpha 和学习率"),
    "final.below_target_at_max": ("训练 {epochs} 轮（允许的最多轮数）后测试集准确率 {acc:.4f} 仍低于目标 {target}："
                                  "再多训练也不行；请检查 T、alpha 和学习率"),
    "final.other_data": ("distil_student 用了 {rows} 张不在所给 loader 的 {n} 张图像之中的图像来训练{loaded}："
                         "学生模型只能从这些图像（迁移集）和教师模型对它们给出的软标签中学习"
                         "（不能用其他数据划分，也不能改动或添加图像）。评估请放在 torch.no_grad() 下。"),
    "final.other_data.loaded": "（它调用了 {call}）",
    "final.ok": "测试集准确率 {acc:.4f}（目标 {target}），用你的 distill_one_epoch 训练了 {epochs} 轮",
    # --- any check: a student function that does not return (rules.HANG_SECONDS) -------------------
    "hang.first": ("你的 {name} 在 {seconds:g} 秒内没有返回；是死循环吗？评分程序已停止它，"
                   "之后每个调用它的检查都会立即失败。"),
    "hang.again": ("你的 {name} 在 {seconds:g} 秒内没有返回；是死循环吗？（之前的检查已停止它："
                   "修好 {name}，重新运行定义 {name} 的单元格，再运行这个单元格。）"),
    "hang.calls": "你的 {name} 在 {seconds:g} 秒内没有返回；是死循环吗？{caller} 调用了它：先修好 {name}。",
}
