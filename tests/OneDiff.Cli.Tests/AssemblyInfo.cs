// TorchSharp's default device and dtype are process-wide, and some tests build models on the meta
// device or in another dtype: tests of this assembly run one at a time.
[assembly: Xunit.CollectionBehavior(DisableTestParallelization = true)]
