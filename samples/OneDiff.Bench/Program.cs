using OneDiff.Bench;

return args.FirstOrDefault() switch
{
    "metrics" => MetricsBenchmark.Run(args.Skip(1).ToArray()),
    "model" => ModelBenchmark.Run(args.Skip(1).ToArray()),
    "overhead" => DecodeOverheadBenchmark.Run(args.Skip(1).ToArray()),
    "training-memory" => TrainingMemoryBenchmark.Run(args.Skip(1).ToArray()),
    "pair-search" => PairSearchBenchmark.Run(args.Skip(1).ToArray()),
    "fit-memory" => FitMemoryBenchmark.Run(args.Skip(1).ToArray()),
    "model-file" => ModelFileBenchmark.Run(args.Skip(1).ToArray()),
    "ddp-step" => DataParallelBenchmark.Run(args.Skip(1).ToArray()),
    "serve" => ServeBenchmark.Run(args.Skip(1).ToArray()),
    _ => Usage(),
};

static int Usage()
{
    Console.Error.WriteLine("usage: OneDiff.Bench metrics [--items N] [--refs N] [--repeats N] [--write-input FILE]");
    Console.Error.WriteLine("       OneDiff.Bench model [--preset Vicuna7B|Qwen2_7B|Tiny] [--device auto|cpu|cuda] [--batch 8] [--gen-batch 16] [--new-tokens 32] [--steps 5] [--layers N] [--skip-sft] [--skip-generate] [--checkpointing] [--master-weights] [--lora RANK] [--compare-kernels] [--rms-norm fused|elementwise] [--projections fused|separate] [--decoding scripted|layers] [--data-parallel [--bucket-mb N]]");
    Console.Error.WriteLine("       OneDiff.Bench overhead [--layers 32] [--tokens 128] [--repeats 7] [--hidden 32] [--heads 4] [--kv-heads 4] [--batch 1] [--prefix 16]");
    Console.Error.WriteLine("       OneDiff.Bench training-memory [--pairs 6000] [--preload]");
    Console.Error.WriteLine("       OneDiff.Bench pair-search [--images 20000] [--dim 768] [--neighbors 1] [--device cpu|cuda]");
    Console.Error.WriteLine("       OneDiff.Bench fit-memory [--pairs 2000] [--size 256] [--columns mlimage|bytes|paths]");
    Console.Error.WriteLine("       OneDiff.Bench model-file [--layers 3]");
    Console.Error.WriteLine("       [mpirun -np N] OneDiff.Bench ddp-step [--hidden 512] [--layers 4] [--batch 8] [--steps 6] [--warmup 2] [--bucket-mb 25] [--sharded]   (samples/OneDiff.Bench/distributed.sh)");
    Console.Error.WriteLine("       OneDiff.Bench serve [--model /tmp/onediff-quickstart/onediff-tiny.zip] [--pairs /tmp/onediff-quickstart/data/test.jsonl] [--count 256] [--max-batch 16] [--max-wait-ms 10] [--repeats 3]");
    return 2;
}
