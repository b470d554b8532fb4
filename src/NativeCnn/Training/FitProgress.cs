// What a fit reports through IProgress<FitProgress> (beside callbacks, for UIs and services): a step report
// after every training batch, with no loss (reading it would synchronise with the device every step), and an
// epoch report after every epoch with the epoch's losses and metrics as the Recorder measured them.
namespace NativeCnn.Training;

/// <summary>One progress report of a fit.</summary>
/// <param name="Epoch">The current epoch, from 0.</param>
/// <param name="Epochs">Epochs in this fit.</param>
/// <param name="Step">Training batches completed in this fit so far.</param>
/// <param name="TotalSteps">Training batches in the whole fit (Epochs x batches per epoch).</param>
/// <param name="EpochEnd">True for the report after an epoch (losses and metrics set); false after a training batch.</param>
/// <param name="TrainLoss">Epoch reports: the mean training loss of the epoch (NaN if the phase was skipped); else null.</param>
/// <param name="ValidLoss">Epoch reports: the validation loss (NaN with no validation batches); else null.</param>
/// <param name="Metrics">Epoch reports: each metric's name and value on the validation set; else null.</param>
public sealed record FitProgress(int Epoch, int Epochs, int Step, int TotalSteps, bool EpochEnd,
                                 double? TrainLoss, double? ValidLoss, IReadOnlyDictionary<string, double>? Metrics);
