#pragma once
// Everything of trainscope's core API (no CUDA, no libtorch). For libtorch tensors, also include
// "trainscope/torch.h" and link trainscope::torch.
#include "trainscope/cpu_executor.h"
#include "trainscope/device.h"
#include "trainscope/error.h"
#include "trainscope/ops/colorize.h"
#include "trainscope/ops/histogram.h"
#include "trainscope/ops/labels.h"
#include "trainscope/run/record.h"
#include "trainscope/run/run.h"
#include "trainscope/sinks/tensorboard.h"
#include "trainscope/tensor_view.h"
#include "trainscope/upload/uploader.h"
