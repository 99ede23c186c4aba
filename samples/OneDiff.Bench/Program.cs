using OneDiff.Bench;

return args.FirstOrDefault() switch
{
    "metrics" => MetricsBenchmark.Run(args.Skip(1).ToArray()),
    _ => Usage(),
};

static int Usage()
{
    Console.Error.WriteLine("usage: OneDiff.Bench metrics [--items N] [--refs N] [--repeats N] [--write-input FILE]");
    return 2;
}
