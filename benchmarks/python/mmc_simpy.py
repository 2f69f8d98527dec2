"""M/M/c in SimPy (Debian's python3-simpy3): the baseline of `npm run bench -- sim`.

c servers (a Resource of capacity c, FIFO), Poisson arrivals at rate load*c/mean_service,
exponential service times with mean mean_service. Prints one JSON line: wall seconds of the
simulation, jobs, and the mean wait (to check it is the same model as gantry's).
usage: mmc_simpy.py SERVERS LOAD JOBS SEED [MEAN_SERVICE_MS]
"""
import json
import random
import sys
import time

import simpy


def main() -> None:
    servers, load, jobs, seed = int(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    mean_service = float(sys.argv[5]) if len(sys.argv) > 5 else 60_000.0
    rng = random.Random(seed)
    arrival_rate = load * servers / mean_service
    env = simpy.Environment()
    pool = simpy.Resource(env, capacity=servers)
    waits = [0.0]

    def job(service: float):
        arrived = env.now
        with pool.request() as slot:
            yield slot
            waits[0] += env.now - arrived
            yield env.timeout(service)

    def source():
        for _ in range(jobs):
            yield env.timeout(rng.expovariate(arrival_rate))
            env.process(job(rng.expovariate(1.0 / mean_service)))

    env.process(source())
    t0 = time.perf_counter()
    env.run()
    seconds = time.perf_counter() - t0
    print(json.dumps({"seconds": seconds, "jobs": jobs, "meanWaitMs": waits[0] / jobs}))


if __name__ == "__main__":
    main()
