using Xunit;

namespace OneDiff.Modeling.Tests;

/// <summary>Runs code while another thread collects garbage without pause, so TorchSharp objects'
/// finalizers race with it (the way a long training run meets them).</summary>
internal static class BackgroundCollector
{
    public static void During(Action action)
    {
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        var collector = Task.Run(() => { while (!stop.IsCancellationRequested) { GC.Collect(); GC.WaitForPendingFinalizers(); } }, CancellationToken.None);
        try { action(); }
        finally { stop.Cancel(); collector.GetAwaiter().GetResult(); }
    }
}
