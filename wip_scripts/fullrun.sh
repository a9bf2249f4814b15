cd /work/main && . .venv/bin/activate
for n in "$@"; do
  s=$(date +%s)
  OMP_NUM_THREADS=2 nice -n 19 jupyter nbconvert --to notebook --execute --inplace --ExecutePreprocessor.timeout=900 --ExecutePreprocessor.store_widget_state=True notebooks/$n.ipynb > /tmp/w/full_$n.log 2>&1
  rc=$?
  echo "$n rc=$rc $(( $(date +%s)-s ))s $(date +%H:%M:%S)" | tee -a /tmp/w/times.txt
done
