using System.Diagnostics;
using System.Globalization;
using OneDiff.Modeling.Retrieval;
using OneDiff.Modeling.Runtime;
using TorchSharp;
using static OneDiff.Bench.BenchArgs;

namespace OneDiff.Bench;

/// <summary>
/// The exact pair search of <c>onediff data mine-pairs</c> (<see cref="SimilarPairs"/>) over N
/// CLIP-sized unit vectors: clusters of near neighbours (so the band holds pairs) among random
/// ones. Prints the seconds, the pairs found and the process's peak working set.
/// </summary>
static class PairSearchBenchmark
{
    public static int Run(string[] args)
    {
        int n = int.Parse(Arg(args, "--images") ?? "20000", CultureInfo.InvariantCulture);
        int dim = int.Parse(Arg(args, "--dim") ?? "768", CultureInfo.InvariantCulture);
        int neighbors = int.Parse(Arg(args, "--neighbors") ?? "1", CultureInfo.InvariantCulture);
        var device = DeviceSelector.Resolve(Arg(args, "--device") ?? "cpu");
        torch.manual_seed(1);
        // Groups of 4 around a centre, 0.3 apart: similarities within a group of about 0.9.
        using var centres = torch.randn(n / 4 + 1, dim).repeat_interleave(4, 0).narrow(0, 0, n);
        using var raw = (centres + torch.randn(n, dim) * 0.3).to(device.ToTorch());
        using var embeddings = raw / raw.norm(1, keepdim: true);
        var clock = Stopwatch.StartNew();
        var pairs = SimilarPairs.Find(embeddings, neighbors, 0.8, 0.95);
        if (device.IsCuda) torch.cuda.synchronize();
        double seconds = clock.Elapsed.TotalSeconds;
        Console.WriteLine($"pair search: {n:N0} x {dim} on {device.Name}, {neighbors} neighbour(s), band [0.8, 0.95): " +
            $"{pairs.Count:N0} pairs in {seconds:F2} s ({2.0 * n * n * dim / seconds / 1e9:F1} GFLOP/s); peak working set {Process.GetCurrentProcess().PeakWorkingSet64 / (1 << 20)} MiB");
        return 0;
    }
}
