// TorchSharp's random generator, default device and dtype are process-wide: trainings that compare
// loss curves must not share them with a test running beside them, so this assembly's tests run one
// at a time.
[assembly: Xunit.CollectionBehavior(DisableTestParallelization = true)]
